using System.Net;

namespace P2PStack.Nat.Stun;

/// <summary>STUN client settings: retransmission as RFC 8489 section 6.2.1 describes, and the servers to ask.</summary>
public sealed class StunClientOptions
{
    /// <summary>Servers for <c>synaptic-mesh p2p nat --method stun</c> and behaviour discovery, as host:port (port 3478
    /// when absent). Empty by default: a node asks no third party unless configured to.</summary>
    public IList<string> Servers { get; } = [];

    /// <summary>First retransmission timeout (RFC 8489: 500 ms or more).</summary>
    public TimeSpan InitialRto { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Requests sent before giving up (Rc, 7 in RFC 8489).</summary>
    public int MaxTransmissions { get; set; } = 7;

    /// <summary>After the last request, wait this many RTOs for an answer (Rm, 16 in RFC 8489).</summary>
    public int LastWaitMultiplier { get; set; } = 16;

    /// <summary>
    /// Transmissions for the RFC 5780 tests whose answer a NAT may legitimately filter (change-address requests): a
    /// missing answer is the result there, so waiting the full RFC 8489 schedule (39.5 s) for it only slows discovery.
    /// </summary>
    public int FilteringProbeTransmissions { get; set; } = 3;

    /// <summary>The wait after the last filtering probe, in RTOs.</summary>
    public int FilteringProbeLastWaitMultiplier { get; set; } = 4;

    /// <summary>Largest datagram accepted as a response.</summary>
    public int MaxMessageSize { get; set; } = StunCodec.DefaultMaxMessageSize;

    /// <summary>Value of the SOFTWARE attribute in requests; null or empty sends none.</summary>
    public string? Software { get; set; }

    internal void Validate()
    {
        if (InitialRto <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(InitialRto), "must be positive");
        if (MaxTransmissions < 1) throw new ArgumentOutOfRangeException(nameof(MaxTransmissions), "at least one request");
        if (LastWaitMultiplier < 1) throw new ArgumentOutOfRangeException(nameof(LastWaitMultiplier), "at least one RTO");
        if (FilteringProbeTransmissions < 1) throw new ArgumentOutOfRangeException(nameof(FilteringProbeTransmissions), "at least one request");
        if (FilteringProbeLastWaitMultiplier < 1) throw new ArgumentOutOfRangeException(nameof(FilteringProbeLastWaitMultiplier), "at least one RTO");
        if (MaxMessageSize < StunMessage.HeaderLength) throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), "smaller than a header");
    }

    /// <summary>Parses "host:port", "host", "[v6]:port" into an endpoint, resolving names.</summary>
    public static async Task<IPEndPoint> ResolveAsync(string server, CancellationToken cancellationToken)
    {
        const int DefaultPort = 3478;
        string host = server;
        int port = DefaultPort;
        if (server.StartsWith('['))
        {
            int close = server.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) throw new FormatException($"'{server}' is not host[:port]");
            host = server[1..close];
            if (close + 1 < server.Length)
            {
                if (server[close + 1] != ':' || !int.TryParse(server.AsSpan(close + 2), out port)) throw new FormatException($"'{server}' is not host[:port]");
            }
        }
        else if (server.Count(c => c == ':') == 1)
        {
            int colon = server.IndexOf(':', StringComparison.Ordinal);
            host = server[..colon];
            if (!int.TryParse(server.AsSpan(colon + 1), out port)) throw new FormatException($"'{server}' is not host[:port]");
        }
        if (port is < 1 or > 65535) throw new FormatException($"'{server}': port {port} is out of range");
        if (IPAddress.TryParse(host, out var ip)) return new IPEndPoint(ip, port);
        var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        var first = addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new IOException($"the STUN server name {host} resolves to no address");
        return new IPEndPoint(first, port);
    }
}

/// <summary>The tiny STUN server a node may run (off by default): Binding requests only, answered with the address
/// they came from, with a per-source-address rate limit so that the node cannot be used as a reflector.</summary>
public sealed class StunServerOptions
{
    /// <summary>Off by default: a node answers STUN only when its operator says so.</summary>
    public bool Enabled { get; set; }

    /// <summary>UDP address to listen on; 3478 is the STUN port.</summary>
    public IPEndPoint ListenEndPoint { get; set; } = new(IPAddress.Any, 3478);

    /// <summary>SOFTWARE in responses; null or empty sends none.</summary>
    public string? Software { get; set; } = "P2PStack";

    /// <summary>Sustained responses per second to one source IP.</summary>
    public double RequestsPerSecondPerSource { get; set; } = 5;

    /// <summary>Burst of responses allowed to one source IP.</summary>
    public int BurstPerSource { get; set; } = 20;

    /// <summary>Source IPs tracked for rate limiting; beyond it, new sources are refused until entries age out.</summary>
    public int MaxTrackedSources { get; set; } = 4096;

    /// <summary>Largest datagram accepted as a request.</summary>
    public int MaxMessageSize { get; set; } = 548;

    internal void Validate()
    {
        if (RequestsPerSecondPerSource <= 0) throw new ArgumentOutOfRangeException(nameof(RequestsPerSecondPerSource), "must be positive");
        if (BurstPerSource < 1) throw new ArgumentOutOfRangeException(nameof(BurstPerSource), "at least 1");
        if (MaxTrackedSources < 1) throw new ArgumentOutOfRangeException(nameof(MaxTrackedSources), "at least 1");
        if (MaxMessageSize < StunMessage.HeaderLength) throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), "smaller than a header");
    }
}
