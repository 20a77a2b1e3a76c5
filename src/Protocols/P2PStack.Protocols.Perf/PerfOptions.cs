namespace P2PStack.Protocols.Perf;

/// <summary>Limits of the <c>/perf/1.0.0</c> server. Perf makes this node send and receive as much as a peer asks
/// for, so it is served to local and private peers only unless opened to the internet, and every stream is capped.</summary>
public sealed class PerfOptions
{
    /// <summary>Serve peers connecting from public (globally routable) addresses too. Off by default; peers on loopback,
    /// private, link-local or non-IP (memory) addresses are always served. <c>p2p start --perf</c> turns it on.</summary>
    public bool ServePublicPeers { get; set; }

    /// <summary>Largest download the server agrees to send on one stream; larger requests are reset.</summary>
    public ulong MaxServeBytes { get; set; } = 1UL * 1024 * 1024 * 1024;

    /// <summary>Largest upload the server drains on one stream; a longer upload is reset.</summary>
    public ulong MaxUploadBytes { get; set; } = 1UL * 1024 * 1024 * 1024;

    /// <summary>Longest one stream may take, upload and download together; then it is reset.</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Perf streams served at once over all peers; more are reset.</summary>
    public int MaxConcurrentStreams { get; set; } = 4;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(StreamTimeout, TimeSpan.Zero, nameof(StreamTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentStreams, 1, nameof(MaxConcurrentStreams));
    }
}
