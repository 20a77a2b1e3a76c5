using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Nat.AutoNat.Pb.V2;
using P2PStack.Network;
using ResponseStatus = P2PStack.Nat.AutoNat.Pb.V2.DialResponse.Types.ResponseStatus;

namespace P2PStack.Nat.AutoNat;

/// <summary>
/// Serves <c>/libp2p/autonat/2/dial-request</c>: picks the first address it may dial; when that address's IP is not the
/// requester's, asks for 30-100 kB of dial data first and dials only once it has arrived (the amplification defence);
/// dials over a new connection, sends the nonce on <c>/libp2p/autonat/2/dial-back</c>, and reports the outcome.
/// </summary>
public sealed partial class AutoNatV2Server : IProtocolHandler
{
    private readonly IPeerHost _host;
    private readonly AutoNatOptions _options;
    private readonly RequestThrottle _throttle;
    private readonly AutoNatMetrics? _metrics;
    private readonly ILogger _logger;

    public AutoNatV2Server(IPeerHost host, IOptions<AutoNatOptions> options, AutoNatMetrics? metrics = null,
        ILogger<AutoNatV2Server>? logger = null, TimeProvider? timeProvider = null)
    {
        _host = host;
        _options = options.Value;
        _options.Validate();
        _throttle = new RequestThrottle(_options, timeProvider ?? TimeProvider.System);
        _metrics = metrics;
        _logger = logger ?? NullLogger<AutoNatV2Server>.Instance;
    }

    public IReadOnlyList<string> Protocols { get; } = [AutoNatProtocol.V2DialRequest];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.DialBackTimeout + _options.ProbeTimeout);
            var remote = stream.Connection.RemotePeer;
            try
            {
                var request = await ReadAsync(stream, timeout.Token).ConfigureAwait(false);
                if (request.MsgCase != Message.MsgOneofCase.DialRequest)
                    throw new AutoNatFormatException($"autonat v2: expected a DialRequest, got {request.MsgCase}");
                var response = await ServeAsync(stream, request.DialRequest, timeout.Token).ConfigureAwait(false);
                if (response is null) return; // stream already reset
                await ProtobufFraming.WriteAsync(stream.Output, new Message { DialResponse = response }, timeout.Token).ConfigureAwait(false);
                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (AutoNatFormatException ex)
            {
                _metrics?.Served(2, "bad_request");
                LogBadRequest(remote, ex.Message);
                stream.Reset();
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                stream.Reset(); // the requester stalled (e.g. never sent the dial data)
            }
            catch (IOException ex)
            {
                LogStreamFailed(remote, ex.Message); // the requester went away or reset (refusing to pay for the dial)
            }
        }
    }

    private Task<Message> ReadAsync(IStream stream, CancellationToken cancellationToken) =>
        ProtobufFraming.ReadAsync(stream.Input, Message.Parser, _options.MaxMessageSize,
            (reason, inner) => new AutoNatFormatException($"autonat v2: {reason}", inner), cancellationToken);

    /// <summary>Serves the request; null when the stream was reset instead of answered.</summary>
    private async Task<DialResponse?> ServeAsync(IStream stream, DialRequest request, CancellationToken cancellationToken)
    {
        var connection = stream.Connection;
        var remote = connection.RemotePeer;
        if (!connection.IsDirect || AddressScope.IsRelayed(connection.RemoteAddress))
            return Rejected(ResponseStatus.ERequestRejected, "relayed");
        using var lease = _throttle.TryEnter(remote, out _);
        if (lease is null) return Rejected(ResponseStatus.ERequestRejected, "refused_rate");

        var requested = request.Addrs.Take(_options.MaxAddressesPerRequest)
            .Select(b => Multiaddr.TryDecode(b.Span, out var a) ? a : null).ToList();
        var (v4, v6) = Families();
        int index = DialBackPolicy.SelectV2(requested, connection.RemoteAddress.GetIPAddress(), _options.AllowPrivateAddresses, v4, v6,
            out bool needsDialData);
        if (index < 0) return Rejected(ResponseStatus.EDialRefused, "refused_address");
        var target = requested[index]!;

        if (needsDialData)
        {
            ulong asked = (ulong)RandomNumberGenerator.GetInt32(_options.MinDialDataBytes, _options.MaxDialDataBytesAsked + 1);
            _metrics?.Served(2, "dial_data_requested");
            await ProtobufFraming.WriteAsync(stream.Output,
                new Message { DialDataRequest = new DialDataRequest { AddrIdx = (uint)index, NumBytes = asked } }, cancellationToken).ConfigureAwait(false);
            ulong received = 0;
            while (received < asked)
            {
                Message data;
                try
                {
                    data = await ReadAsync(stream, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (received == 0 && ex is AutoNatFormatException or IOException)
                {
                    // The requester declined to pay (reset or closed the stream): nothing is dialed. Counted apart from
                    // malformed messages: this is the defence working.
                    _metrics?.Served(2, "dial_data_refused");
                    LogDialDataRefused(remote, target);
                    stream.Reset();
                    return null;
                }
                if (data.MsgCase != Message.MsgOneofCase.DialDataResponse)
                    throw new AutoNatFormatException($"autonat v2: expected DialDataResponse, got {data.MsgCase}");
                if (data.DialDataResponse.Data.Length > AutoNatProtocol.DialDataChunk)
                    throw new AutoNatFormatException($"autonat v2: a DialDataResponse carries {data.DialDataResponse.Data.Length} bytes, over {AutoNatProtocol.DialDataChunk}");
                received += (ulong)data.DialDataResponse.Data.Length;
            }
        }

        var dialStatus = await DialBackAsync(remote, target, request.Nonce, cancellationToken).ConfigureAwait(false);
        _metrics?.Served(2, dialStatus switch
        {
            DialStatus.Ok => "dial_ok",
            DialStatus.EDialBackError => "dial_back_error",
            _ => "dial_error",
        });
        return new DialResponse { Status = ResponseStatus.Ok, AddrIdx = (uint)index, DialStatus = dialStatus };
    }

    private async Task<DialStatus> DialBackAsync(PeerId remote, Multiaddr target, ulong nonce, CancellationToken cancellationToken)
    {
        using var dial = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        dial.CancelAfter(_options.DialBackTimeout);
        IConnection connection;
        try
        {
            var address = target.GetPeerId() is null ? target.Encapsulate($"/p2p/{remote}") : target;
            connection = await _host.DialAsync(address, new DialOptions { ForceNewConnection = true }, dial.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            LogDialBackFailed(remote, target, ex.Message);
            return DialStatus.EDialError;
        }
        try
        {
            var stream = await connection.OpenStreamAsync([AutoNatProtocol.V2DialBack], dial.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                await ProtobufFraming.WriteAsync(stream.Output, new DialBack { Nonce = nonce }, dial.Token).ConfigureAwait(false);
                // The answer tells us the nonce arrived before we close the connection (the spec's reason for it).
                await ProtobufFraming.ReadAsync(stream.Input, DialBackResponse.Parser, 64,
                    (reason, inner) => new AutoNatFormatException($"autonat v2 dial back: {reason}", inner), dial.Token).ConfigureAwait(false);
                return DialStatus.Ok;
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or AutoNatFormatException or ProtocolNotSupportedException
            && !cancellationToken.IsCancellationRequested)
        {
            LogDialBackFailed(remote, target, ex.Message);
            return DialStatus.EDialBackError;
        }
        finally
        {
            await connection.CloseAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private (bool IPv4, bool IPv6) Families()
    {
        bool v4 = false, v6 = false;
        foreach (var address in _host.ListenAddresses)
        {
            v4 |= address.Has(MultiaddrProtocols.Ip4);
            v6 |= address.Has(MultiaddrProtocols.Ip6);
        }
        return (v4 || !v6, v6);
    }

    private DialResponse Rejected(ResponseStatus status, string metric)
    {
        _metrics?.Served(2, metric);
        return new DialResponse { Status = status };
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT v2: malformed request from {Peer}: {Reason}")]
    private partial void LogBadRequest(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT v2: stream with {Peer} failed: {Reason}")]
    private partial void LogStreamFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT v2: {Peer} did not send the dial data for {Address}: not dialed")]
    private partial void LogDialDataRefused(PeerId peer, Multiaddr address);

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT v2: dial back to {Peer} at {Address} failed: {Reason}")]
    private partial void LogDialBackFailed(PeerId peer, Multiaddr address, string reason);
}
