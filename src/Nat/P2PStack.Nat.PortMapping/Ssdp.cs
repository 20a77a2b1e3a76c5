using System.Net;
using System.Net.Sockets;
using System.Text;

namespace P2PStack.Nat.PortMapping;

/// <summary>One answer to an SSDP M-SEARCH: who answered and where its device description is.</summary>
public sealed record SsdpResponse(IPEndPoint From, Uri Location, string SearchTarget, string? Usn, string? Server)
{
    /// <summary>Who answered, for errors: address, SERVER and search target (printable ASCII, cut short).</summary>
    public string Describe() => $"{From} (SERVER '{Ssdp.Printable(Server ?? "none")}', ST '{Ssdp.Printable(SearchTarget)}')";
}

/// <summary>What an SSDP search heard: the usable answers (distinct by LOCATION) and, for each unusable one (distinct),
/// who sent it and why it cannot be used, so a failed discovery can say what answered.</summary>
public sealed record SsdpSearchResult(IReadOnlyList<SsdpResponse> Answers, IReadOnlyList<string> Unusable);

/// <summary>
/// SSDP search (UPnP Device Architecture 1.1 section 1.3.2) for Internet Gateway Devices: M-SEARCH to
/// 239.255.255.250:1900, then unicast answers for the wait time. Answers are bounded in size and number, and a
/// LOCATION must name the host that answered (a device on the LAN cannot send us to fetch from elsewhere).
/// </summary>
public static class Ssdp
{
    public static readonly IPEndPoint MulticastEndPoint = new(IPAddress.Parse("239.255.255.250"), 1900);

    /// <summary>Search targets for gateways, most specific first.</summary>
    public static readonly string[] GatewayTargets =
    [
        "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
        "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
        "urn:schemas-upnp-org:service:WANIPConnection:1",
        "urn:schemas-upnp-org:service:WANIPConnection:2",
    ];

    public static byte[] BuildSearch(string searchTarget, int mxSeconds) => System.Text.Encoding.ASCII.GetBytes(
        "M-SEARCH * HTTP/1.1\r\n" +
        $"HOST: {MulticastEndPoint}\r\n" +
        "MAN: \"ssdp:discover\"\r\n" +
        $"MX: {mxSeconds}\r\n" +
        $"ST: {searchTarget}\r\n\r\n");

    /// <summary>Searches for gateways; returns the distinct answers (by LOCATION) received within the timeout, and why
    /// each other answer was unusable.</summary>
    public static async Task<SsdpSearchResult> SearchAsync(PortMappingOptions options, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 2);
        int mx = Math.Clamp((int)options.SsdpTimeout.TotalSeconds, 1, 5);
        foreach (string target in GatewayTargets)
            await socket.SendToAsync(BuildSearch(target, mx), SocketFlags.None, options.SsdpEndPoint ?? MulticastEndPoint, cancellationToken).ConfigureAwait(false);

        var found = new Dictionary<Uri, SsdpResponse>();
        var unusable = new HashSet<string>(StringComparer.Ordinal); // at most MaxSsdpResponses: one per answer read
        byte[] buffer = new byte[options.MaxSsdpResponseBytes + 1];
        using var window = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        window.CancelAfter(options.SsdpTimeout);
        int seen = 0;
        while (seen < options.MaxSsdpResponses)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), window.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                break;
            }
            seen++;
            var from = (IPEndPoint)received.RemoteEndPoint;
            if (received.ReceivedBytes > options.MaxSsdpResponseBytes)
            {
                unusable.Add($"{from}: an answer over {options.MaxSsdpResponseBytes} bytes (MaxSsdpResponseBytes)");
                continue;
            }
            try
            {
                var response = Parse(buffer.AsSpan(0, received.ReceivedBytes), from);
                found.TryAdd(response.Location, response);
            }
            catch (PortMappingFormatException ex)
            {
                // Not an answer we can use (malformed, or a LOCATION pointing away from the device): kept to say why.
                unusable.Add(ex.Message);
            }
        }
        return new SsdpSearchResult([.. found.Values], [.. unusable]);
    }

    /// <summary>Text from a LAN device, fit for an error message: printable ASCII only, at most 80 characters.</summary>
    internal static string Printable(string text)
    {
        var chars = text.Select(c => c is >= ' ' and <= '~' ? c : '?').Take(81).ToArray();
        return chars.Length > 80 ? new string(chars, 0, 77) + "..." : new string(chars);
    }

    /// <summary>Parses an M-SEARCH answer.</summary>
    /// <exception cref="PortMappingFormatException">Not a 200 answer with a usable LOCATION on the answering host.</exception>
    public static SsdpResponse Parse(ReadOnlySpan<byte> datagram, IPEndPoint from)
    {
        string text = System.Text.Encoding.ASCII.GetString(datagram);
        string[] lines = text.Split("\r\n");
        if (lines.Length == 0 || !lines[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !lines[0].Contains(" 200", StringComparison.Ordinal))
            throw new PortMappingFormatException($"SSDP answer from {from} is not an HTTP 200 response ('{Printable(lines[0])}')");
        string? location = null, st = null, usn = null, server = null;
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) continue;
            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("LOCATION", StringComparison.OrdinalIgnoreCase)) location = value;
            else if (name.Equals("ST", StringComparison.OrdinalIgnoreCase)) st = value;
            else if (name.Equals("USN", StringComparison.OrdinalIgnoreCase)) usn = value;
            else if (name.Equals("SERVER", StringComparison.OrdinalIgnoreCase)) server = value;
        }
        string who = $"SSDP answer from {from} (SERVER '{Printable(server ?? "none")}', ST '{Printable(st ?? "none")}')";
        if (location is null || !Uri.TryCreate(location, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp)
            throw new PortMappingFormatException($"{who} has no http LOCATION ('{Printable(location ?? "none")}')");
        if (!IPAddress.TryParse(uri.Host, out var host) || !host.Equals(from.Address))
            throw new PortMappingFormatException($"{who} points to another host ({Printable(uri.Host)})");
        return new SsdpResponse(from, uri, st ?? "", usn, server);
    }
}
