namespace P2PStack.Nat.AutoNat;

public sealed class AutoNatOptions
{
    // --- server ---

    /// <summary>Answer other peers' AutoNAT requests (v1 and v2).</summary>
    public bool EnableServer { get; set; } = true;

    /// <summary>Budget of one dial back (connect, upgrade and, in v2, the dial-back exchange).</summary>
    public TimeSpan DialBackTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Requests served at once; more are refused (v1 E_DIAL_REFUSED, v2 E_REQUEST_REJECTED).</summary>
    public int MaxConcurrentRequests { get; set; } = 8;

    /// <summary>Requests served per minute across all peers.</summary>
    public int MaxRequestsPerMinute { get; set; } = 60;

    /// <summary>Requests served per minute to one peer.</summary>
    public int MaxRequestsPerPeerPerMinute { get; set; } = 4;

    /// <summary>Peers tracked for the per-peer limit; beyond it new peers are refused until entries age out.</summary>
    public int MaxTrackedPeers { get; set; } = 1024;

    /// <summary>Addresses of one request considered; the rest are ignored.</summary>
    public int MaxAddressesPerRequest { get; set; } = 32;

    /// <summary>Largest AutoNAT message read (a v2 dial data message carries up to 4096 bytes of data).</summary>
    public int MaxMessageSize { get; set; } = 8192;

    /// <summary>
    /// v2: the dial data a server asks for before dialing an IP other than the requester's (the amplification
    /// defence): a random amount in [min, max]; the spec recommends 30 to 100 kB.
    /// </summary>
    public int MinDialDataBytes { get; set; } = 30_000;

    public int MaxDialDataBytesAsked { get; set; } = 100_000;

    /// <summary>Dial back private, loopback and other non-public addresses. Off: the specs forbid it on the
    /// internet; tests on one machine turn it on.</summary>
    public bool AllowPrivateAddresses { get; set; }

    // --- client ---

    /// <summary>Probe our addresses with connected AutoNAT servers (the node's reachability comes from it).</summary>
    public bool EnableClient { get; set; } = true;

    /// <summary>v2: the most dial data the client agrees to send for one request; larger asks abort the request.</summary>
    public long MaxDialDataBytes { get; set; } = 100_000;

    /// <summary>Budget of one probe (request, dial data, waiting for the dial back and the response).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Verdicts of distinct servers needed before an address is called public or private (the spec
    /// suggests more than 3 on the internet).</summary>
    public int Confirmations { get; set; } = 3;

    /// <summary>Servers asked per probing round.</summary>
    public int ServersPerRound { get; set; } = 3;

    /// <summary>Pause between probing rounds while reachability is unknown.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Pause between probing rounds once reachability is known.</summary>
    public TimeSpan RecheckInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>A verdict of one server stops counting after this long.</summary>
    public TimeSpan ResultTtl { get; set; } = TimeSpan.FromHours(1);

    internal void Validate()
    {
        Positive(DialBackTimeout, nameof(DialBackTimeout));
        Positive(ProbeTimeout, nameof(ProbeTimeout));
        Positive(ProbeInterval, nameof(ProbeInterval));
        Positive(RecheckInterval, nameof(RecheckInterval));
        Positive(ResultTtl, nameof(ResultTtl));
        AtLeast(MaxConcurrentRequests, 1, nameof(MaxConcurrentRequests));
        AtLeast(MaxRequestsPerMinute, 1, nameof(MaxRequestsPerMinute));
        AtLeast(MaxRequestsPerPeerPerMinute, 1, nameof(MaxRequestsPerPeerPerMinute));
        AtLeast(MaxTrackedPeers, 1, nameof(MaxTrackedPeers));
        AtLeast(MaxAddressesPerRequest, 1, nameof(MaxAddressesPerRequest));
        AtLeast(MaxMessageSize, AutoNatProtocol.DialDataChunk + 64, nameof(MaxMessageSize));
        AtLeast(MinDialDataBytes, 1, nameof(MinDialDataBytes));
        AtLeast(MaxDialDataBytesAsked, MinDialDataBytes, nameof(MaxDialDataBytesAsked));
        AtLeast(Confirmations, 1, nameof(Confirmations));
        AtLeast(ServersPerRound, 1, nameof(ServersPerRound));
        if (MaxDialDataBytes < 0) throw new ArgumentOutOfRangeException(nameof(MaxDialDataBytes), "must not be negative");
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, "must be positive");
    }

    private static void AtLeast(long value, long minimum, string name)
    {
        if (value < minimum) throw new ArgumentOutOfRangeException(name, $"must be at least {minimum}");
    }
}
