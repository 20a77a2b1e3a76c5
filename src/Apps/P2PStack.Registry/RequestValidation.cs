using System.Net;
using System.Text.Json;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Registry;

/// <summary>Parses and bounds request bodies: anything malformed or over a limit is a 400 naming the field.</summary>
internal static class RequestValidation
{
    public static T Parse<T>(byte[] body) where T : class
    {
        if (body.Length == 0) throw RegistryException.BadRequest("the request needs a JSON body");
        try
        {
            return JsonSerializer.Deserialize<T>(body, RegistryJson.Options) ?? throw RegistryException.BadRequest("the JSON body is null");
        }
        catch (JsonException e)
        {
            throw RegistryException.BadRequest($"the body is not valid JSON for this request: {e.Message}");
        }
    }

    /// <summary>An empty body is allowed (approve/deny without a reason).</summary>
    public static T ParseOptional<T>(byte[] body, T empty) where T : class => body.Length == 0 ? empty : Parse<T>(body);

    public static void Check(RegisterRequest request, RegistryOptions options, PeerId signer, IPAddress? source)
    {
        if (request.NodeId is { } id && id != signer.ToString())
            throw RegistryException.Forbidden($"the body names node {Text(id, 64)} but the request is signed by {signer}: a node registers only itself");
        Field(request.Name, "name", options.MaxFieldLength);
        Addresses(request.Addresses, options);
        if (request.Services is null) throw RegistryException.BadRequest("services must be a list");
        if (request.Services.Count > options.MaxServicesPerNode)
            throw RegistryException.BadRequest($"{request.Services.Count} services; at most {options.MaxServicesPerNode}");
        foreach (var service in request.Services)
        {
            if (service is null || string.IsNullOrWhiteSpace(service.Name)) throw RegistryException.BadRequest("every service needs a name");
            Field(service.Name, "service name", options.MaxFieldLength);
            Field(service.Protocol, "service protocol", options.MaxFieldLength);
            if (service.Port is < 0 or > 65535) throw RegistryException.BadRequest($"service port {service.Port} is not 0-65535");
        }
        if (request.Services.Select(s => s.Name).Distinct(StringComparer.Ordinal).Count() != request.Services.Count)
            throw RegistryException.BadRequest("service names must be unique");
        MetricsUrl(request.MetricsUrl, options, source);
        if (request.Metadata is { } metadata)
        {
            if (metadata.Count > options.MaxMetadataEntries)
                throw RegistryException.BadRequest($"{metadata.Count} metadata entries; at most {options.MaxMetadataEntries}");
            foreach (var (key, value) in metadata)
            {
                Field(key, "metadata key", options.MaxFieldLength);
                Field(value, "metadata value", options.MaxFieldLength);
            }
        }
    }

    public static void Check(HeartbeatRequest request, RegistryOptions options, PeerId signer, IPAddress? source)
    {
        if (request.Connections is null) throw RegistryException.BadRequest("connections must be a list");
        if (request.Connections.Count > options.MaxConnectionsPerHeartbeat)
            throw RegistryException.BadRequest($"{request.Connections.Count} connections; at most {options.MaxConnectionsPerHeartbeat} per heartbeat");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var connection in request.Connections)
        {
            if (connection is null || !PeerId.TryParse(connection.PeerId, out var peer))
                throw RegistryException.BadRequest($"connection peer id '{Text(connection?.PeerId, 64)}' is not a peer id");
            if (peer == signer) throw RegistryException.BadRequest("a node cannot report a connection to itself");
            if (!seen.Add(peer.ToString())) throw RegistryException.BadRequest($"peer {peer} is reported twice");
            if (connection.RttMs is { } rtt && !(Valid(rtt.Current) && Valid(rtt.Min) && Valid(rtt.Max) && Valid(rtt.Avg)))
                throw RegistryException.BadRequest($"round-trip times of {peer} must be finite, non-negative milliseconds");
            Field(connection.LocalAddress, "connection local address", options.MaxFieldLength);
            Field(connection.RemoteAddress, "connection remote address", options.MaxFieldLength);
        }
        if (request.Addresses is not null) Addresses(request.Addresses, options);
        MetricsUrl(request.MetricsUrl, options, source);
    }

    private static bool Valid(double value) => double.IsFinite(value) && value >= 0 && value < 3_600_000;

    private static void Addresses(IReadOnlyList<string>? addresses, RegistryOptions options)
    {
        if (addresses is null) throw RegistryException.BadRequest("addresses must be a list");
        if (addresses.Count > options.MaxAddressesPerNode)
            throw RegistryException.BadRequest($"{addresses.Count} addresses; at most {options.MaxAddressesPerNode}");
        foreach (var address in addresses)
        {
            Field(address, "address", options.MaxFieldLength);
            try
            {
                _ = Multiaddr.Parse(address ?? "");
            }
            catch (P2PFormatException e)
            {
                throw RegistryException.BadRequest($"address '{Text(address, 80)}' is not a multiaddr: {e.Message}");
            }
        }
    }

    private static void MetricsUrl(string? url, RegistryOptions options, IPAddress? source)
    {
        if (url is null) return;
        Field(url, "metricsUrl", options.MaxFieldLength);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.UserInfo.Length > 0
            || uri.Fragment.Length > 0)
            throw RegistryException.BadRequest($"metricsUrl '{Text(url, 80)}' must be an absolute http or https URL without user info or fragment");
        if (options.MetricsTargets == MetricsTargetPolicy.Any) return;
        // The URL becomes a Prometheus scrape target: a node may only point Prometheus at itself.
        if (!IPAddress.TryParse(uri.IdnHost, out var host))
            throw RegistryException.BadRequest($"metricsUrl must name an IP address (the one this request comes from), not '{uri.Host}'");
        var from = source is { IsIPv4MappedToIPv6: true } ? source.MapToIPv4() : source;
        bool allowed = from is not null && (host.Equals(from) || (IPAddress.IsLoopback(from) && IPAddress.IsLoopback(host)));
        if (!allowed)
            throw RegistryException.BadRequest($"metricsUrl host {host} is not the address this request comes from ({from}); a node may only offer its own metrics");
    }

    private static void Field(string? value, string name, int max)
    {
        if (value is null) return;
        if (value.Length > max) throw RegistryException.BadRequest($"{name} is {value.Length} characters; at most {max}");
        if (value.Any(char.IsControl)) throw RegistryException.BadRequest($"{name} contains control characters");
    }

    /// <summary>Client text quoted in an error, cut short and without control characters.</summary>
    public static string Text(string? value, int max)
    {
        if (value is null) return "";
        string cleaned = new([.. value.Take(max).Select(c => char.IsControl(c) ? '?' : c)]);
        return value.Length > max ? cleaned + "..." : cleaned;
    }
}
