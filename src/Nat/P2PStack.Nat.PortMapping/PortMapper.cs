using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Nat;

namespace P2PStack.Nat.PortMapping;

/// <summary>A mapping in place on the gateway.</summary>
/// <param name="Method">"UPnP", "PCP" or "NAT-PMP".</param>
/// <param name="Gateway">The IGD's control URL host or the NAT-PMP/PCP gateway.</param>
public sealed record PortMappingResult(string Method, MappingProtocol Protocol, int InternalPort, IPAddress ExternalAddress, int ExternalPort,
    TimeSpan Lifetime, IPAddress Gateway)
{
    /// <summary>When the mapping should be renewed: halfway through its lifetime (0 = permanent: never).</summary>
    public TimeSpan RenewAfter => Lifetime == TimeSpan.Zero ? Timeout.InfiniteTimeSpan : Lifetime / 2;

    internal UpnpGateway? Upnp { get; init; }

    internal ReadOnlyMemory<byte> PcpNonce { get; init; }
}

/// <summary>Every protocol failed; <see cref="Errors"/> holds each protocol's error (typed: not found, refused,
/// malformed answer).</summary>
public sealed class PortMappingFailedException(IReadOnlyList<Exception> errors)
    : IOException("no port mapping: " + (errors.Count == 0 ? "no protocol enabled" : string.Join("; ", errors.Select(e => e.Message))))
{
    public IReadOnlyList<Exception> Errors { get; } = errors;

    /// <summary>Whether a gateway was found and refused (as opposed to no gateway at all).</summary>
    public bool Refused => Errors.Any(e => e is PortMappingRefusedException);
}

/// <summary>What <see cref="PortMappingService"/> asks of a gateway: <see cref="PortMapper"/>, or a test double.</summary>
internal interface IPortMappingClient
{
    PortMappingOptions Options { get; }

    Task<PortMappingResult> MapAsync(MappingProtocol protocol, int internalPort, CancellationToken cancellationToken);

    Task<PortMappingResult> RenewAsync(PortMappingResult mapping, CancellationToken cancellationToken);

    Task RemoveAsync(PortMappingResult mapping, CancellationToken cancellationToken);
}

/// <summary>
/// Asks the local gateway to forward a port: UPnP IGD first (SSDP, then SOAP AddPortMapping), then PCP, then
/// NAT-PMP, as <see cref="PortMappingOptions.Protocols"/> allows. A gateway whose external address is itself private
/// (a NAT behind another NAT) is treated as a refusal: such a mapping does not make the node reachable.
/// </summary>
public sealed partial class PortMapper : IPortMappingClient, IDisposable
{
    private const int ConflictRetries = 3;
    private readonly PortMappingOptions _options;
    private readonly HttpClient _http;
    private readonly PortMappingMetrics? _metrics;
    private readonly ILogger _logger;

    public PortMapper(IOptions<PortMappingOptions> options, PortMappingMetrics? metrics = null, ILogger<PortMapper>? logger = null)
    {
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
        _logger = logger ?? NullLogger<PortMapper>.Instance;
        // No proxy: the gateway is on the LAN. No redirects: a device description must come from the device itself.
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, ConnectTimeout = _options.HttpTimeout });
    }

    public PortMappingOptions Options => _options;

    /// <summary>Maps <paramref name="internalPort"/> with the first protocol that succeeds.</summary>
    /// <exception cref="PortMappingFailedException">Every enabled protocol failed.</exception>
    public async Task<PortMappingResult> MapAsync(MappingProtocol protocol, int internalPort, CancellationToken cancellationToken)
    {
        var errors = new List<Exception>();
        if (_options.Protocols.HasFlag(PortMappingProtocols.Upnp))
        {
            var result = await TryAsync("UPnP", () => MapWithUpnpAsync(protocol, internalPort, cancellationToken), errors, cancellationToken).ConfigureAwait(false);
            if (result is not null) return result;
        }
        if (_options.Protocols.HasFlag(PortMappingProtocols.Pcp))
        {
            var result = await TryAsync("PCP", () => MapWithPcpAsync(protocol, internalPort, cancellationToken), errors, cancellationToken).ConfigureAwait(false);
            if (result is not null) return result;
        }
        if (_options.Protocols.HasFlag(PortMappingProtocols.NatPmp))
        {
            var result = await TryAsync("NAT-PMP", () => MapWithNatPmpAsync(protocol, internalPort, cancellationToken), errors, cancellationToken).ConfigureAwait(false);
            if (result is not null) return result;
        }
        throw new PortMappingFailedException(errors);
    }

    /// <summary>Renews a mapping with the protocol that made it (counted like a new mapping, or as a failure).</summary>
    /// <exception cref="PortMappingFailedException">The gateway refused, vanished or answered garbage.</exception>
    public async Task<PortMappingResult> RenewAsync(PortMappingResult mapping, CancellationToken cancellationToken)
    {
        var errors = new List<Exception>();
        var renewed = await TryAsync(mapping.Method, () => mapping.Method switch
        {
            "UPnP" => AddUpnpAsync(mapping.Upnp!, mapping.Protocol, mapping.InternalPort, mapping.ExternalPort, cancellationToken),
            "PCP" => MapWithPcpAsync(mapping.Protocol, mapping.InternalPort, cancellationToken, mapping.ExternalPort, mapping.PcpNonce),
            _ => MapWithNatPmpAsync(mapping.Protocol, mapping.InternalPort, cancellationToken, mapping.ExternalPort),
        }, errors, cancellationToken).ConfigureAwait(false);
        return renewed ?? throw new PortMappingFailedException(errors);
    }

    /// <summary>Removes a mapping (DeletePortMapping, or a zero-lifetime request).</summary>
    public async Task RemoveAsync(PortMappingResult mapping, CancellationToken cancellationToken)
    {
        switch (mapping.Method)
        {
            case "UPnP":
                await mapping.Upnp!.DeletePortMappingAsync(mapping.Protocol, mapping.ExternalPort, cancellationToken).ConfigureAwait(false);
                break;
            case "PCP":
                await new PcpClient(_options, mapping.Gateway).MapAsync(mapping.Protocol, mapping.InternalPort, 0, TimeSpan.Zero, cancellationToken,
                    mapping.PcpNonce).ConfigureAwait(false);
                break;
            default:
                await new NatPmpClient(_options, mapping.Gateway).MapAsync(mapping.Protocol, mapping.InternalPort, 0, TimeSpan.Zero, cancellationToken)
                    .ConfigureAwait(false);
                break;
        }
    }

    /// <summary>Finds the IGDs on the LAN (SSDP) and reads their descriptions.</summary>
    /// <exception cref="GatewayNotFoundException">No usable gateway: says what answered and why each was unusable.</exception>
    public async Task<IReadOnlyList<UpnpGateway>> DiscoverUpnpAsync(CancellationToken cancellationToken)
    {
        var search = await Ssdp.SearchAsync(_options, cancellationToken).ConfigureAwait(false);
        var gateways = new List<UpnpGateway>();
        var errors = new List<string>(search.Unusable);
        foreach (var answer in search.Answers)
        {
            try
            {
                gateways.Add(await UpnpGateway.FromLocationAsync(_http, _options, answer.Location, cancellationToken).ConfigureAwait(false));
            }
            // One device that fails (a bad description, no answer, a refusal, a connection reset in the middle of the
            // fetch: a device rebooting) is skipped and named: another device on the LAN may be the gateway.
            // Each error names the location it failed at (the description's URL) and is listed without its protocol:
            // the exception that lists them is UPnP's.
            catch (Exception ex) when (ex is PortMappingFormatException or GatewayNotFoundException or PortMappingRefusedException
                or GatewayConnectionException)
            {
                errors.Add($"{answer.Describe()}: {Cause(ex)}");
            }
        }
        if (gateways.Count == 0)
        {
            throw new GatewayNotFoundException("UPnP", errors.Count == 0
                ? $"no Internet Gateway Device answered SSDP within {_options.SsdpTimeout}"
                : $"no usable Internet Gateway Device among the SSDP answers within {_options.SsdpTimeout}: " + string.Join("; ", errors));
        }
        return gateways;
    }

    private async Task<PortMappingResult?> TryAsync(string method, Func<Task<PortMappingResult>> map, List<Exception> errors,
        CancellationToken cancellationToken)
    {
        try
        {
            var result = await map().ConfigureAwait(false);
            _metrics?.Mapped(method);
            LogMapped(method, result.InternalPort, result.ExternalAddress, result.ExternalPort, result.Lifetime);
            return result;
        }
        // Any I/O failure of the exchange ends here, typed and counted, so that the next protocol is tried: the
        // gateways' own errors, and whatever else the network throws (a socket error, an HTTP exchange broken off).
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested
            && ex is IOException or PortMappingFormatException or SocketException or HttpRequestException)
        {
            _metrics?.Failed(method, ex switch
            {
                GatewayNotFoundException => "not_found",
                PortMappingRefusedException => "refused",
                PortMappingFormatException => "malformed",
                _ => "network", // GatewayConnectionException, SocketException, any other IOException
            });
            LogFailed(method, Cause(ex));
            errors.Add(ex);
            return null;
        }
    }

    private async Task<PortMappingResult> MapWithUpnpAsync(MappingProtocol protocol, int internalPort, CancellationToken cancellationToken)
    {
        var gateways = await DiscoverUpnpAsync(cancellationToken).ConfigureAwait(false);
        Exception? last = null;
        foreach (var gateway in gateways)
        {
            try
            {
                return await AddUpnpAsync(gateway, protocol, internalPort, internalPort, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is PortMappingRefusedException or GatewayConnectionException or PortMappingFormatException)
            {
                last = ex; // the next gateway, if the LAN has several
            }
        }
        throw last!;
    }

    private async Task<PortMappingResult> AddUpnpAsync(UpnpGateway gateway, MappingProtocol protocol, int internalPort, int externalPort,
        CancellationToken cancellationToken)
    {
        var external = await gateway.GetExternalAddressAsync(cancellationToken).ConfigureAwait(false);
        RefuseUnusableExternal("UPnP", external);
        var client = GatewayUdp.LocalAddressTowards(gateway.Address);
        var lease = _options.Lease;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await gateway.AddPortMappingAsync(protocol, externalPort, client, internalPort, lease, cancellationToken).ConfigureAwait(false);
                return new PortMappingResult("UPnP", protocol, internalPort, external, externalPort, lease, gateway.Address)
                {
                    Upnp = gateway,
                };
            }
            catch (PortMappingRefusedException ex) when (ex.Code == 725 && lease != TimeSpan.Zero)
            {
                lease = TimeSpan.Zero; // OnlyPermanentLeasesSupported (IGD:1 devices); removed on stop
            }
            catch (PortMappingRefusedException ex) when (ex.Code == 718 && attempt < ConflictRetries)
            {
                externalPort = RandomNumberGenerator.GetInt32(20000, 60000); // ConflictInMappingEntry: another host has it
            }
        }
    }

    private async Task<PortMappingResult> MapWithPcpAsync(MappingProtocol protocol, int internalPort, CancellationToken cancellationToken,
        int? suggested = null, ReadOnlyMemory<byte>? nonce = null)
    {
        var gateway = GatewayUdp.DefaultGateway(_options, "PCP");
        var mapping = await new PcpClient(_options, gateway).MapAsync(protocol, internalPort, suggested ?? internalPort, _options.Lease, cancellationToken,
            nonce).ConfigureAwait(false);
        RefuseUnusableExternal("PCP", mapping.ExternalAddress!);
        return new PortMappingResult("PCP", protocol, internalPort, mapping.ExternalAddress!, mapping.ExternalPort, mapping.Lifetime, gateway)
        {
            PcpNonce = mapping.Nonce,
        };
    }

    private async Task<PortMappingResult> MapWithNatPmpAsync(MappingProtocol protocol, int internalPort, CancellationToken cancellationToken,
        int? suggested = null)
    {
        var gateway = GatewayUdp.DefaultGateway(_options, "NAT-PMP");
        var client = new NatPmpClient(_options, gateway);
        var (external, _) = await client.GetExternalAddressAsync(cancellationToken).ConfigureAwait(false);
        RefuseUnusableExternal("NAT-PMP", external);
        var mapping = await client.MapAsync(protocol, internalPort, suggested ?? internalPort, _options.Lease, cancellationToken).ConfigureAwait(false);
        return new PortMappingResult("NAT-PMP", protocol, internalPort, external, mapping.ExternalPort, mapping.Lifetime, gateway);
    }

    /// <summary>A gateway failure's cause without its protocol, for a message or log line that names the protocol
    /// already.</summary>
    internal static string Cause(Exception error) => error switch
    {
        GatewayNotFoundException e => e.Detail,
        GatewayConnectionException e => e.Detail,
        PortMappingRefusedException e => $"the gateway refused: {e.Detail}",
        PortMappingFailedException e => string.Join("; ", e.Errors.Select(Cause)),
        _ => error.Message,
    };

    private static void RefuseUnusableExternal(string method, IPAddress external)
    {
        if (external.Equals(IPAddress.Any) || AddressScope.IsPrivate(external))
            throw new PortMappingRefusedException(method, 0, $"the gateway's external address {external} is not public (a NAT behind another NAT)");
    }

    public void Dispose() => _http.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: port {InternalPort} mapped to {ExternalAddress}:{ExternalPort} for {Lifetime}")]
    private partial void LogMapped(string method, int internalPort, IPAddress externalAddress, int externalPort, TimeSpan lifetime);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: no port mapping: {Reason}")]
    private partial void LogFailed(string method, string reason);
}
