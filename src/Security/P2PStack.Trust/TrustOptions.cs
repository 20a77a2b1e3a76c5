using P2PStack.Identity;

namespace P2PStack.Trust;

/// <summary>Security level and trust store of a node.</summary>
public sealed class TrustOptions
{
    public SecurityLevel Level { get; set; } = SecurityLevel.Secure;

    /// <summary>The SQLite database of the trust store; null keeps it in memory (lost at exit).</summary>
    public string? DatabasePath { get; set; }

    /// <summary>At <see cref="SecurityLevel.Secure"/>: trust each new peer on first use, and refuse a different key later
    /// under the same name (the address dialed, or the name given with it).</summary>
    public bool AutoTrustFirst { get; set; }

    /// <summary>Peers trusted by configuration (method "config"), applied when the store opens.</summary>
    public List<(PeerId Peer, string? Name)> TrustedPeers { get; } = [];

    /// <summary>Peers whose security protocol history is kept (to refuse post-quantum downgrades); the least recently
    /// seen are forgotten beyond it.</summary>
    public int MaxTrackedPeers { get; set; } = 100_000;

    /// <summary>How stale a post-quantum peer's "last seen" time may get before a new connection refreshes it. It only
    /// orders forgetting beyond <see cref="MaxTrackedPeers"/>, so a connection within this time of the last refresh
    /// writes nothing (a trust store write on every handshake cost CPU on both ends of each new connection).</summary>
    public TimeSpan PostQuantumSeenResolution { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Longest a trusted name or a revocation reason may be.</summary>
    public int MaxTextLength { get; set; } = 256;

    /// <summary>How long a SQLite write waits for a lock held by another process (the CLI beside the node).</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public void Validate()
    {
        if (!Enum.IsDefined(Level)) throw new ArgumentException($"unknown security level {Level}");
        if (MaxTrackedPeers < 1) throw new ArgumentException("MaxTrackedPeers must be positive");
        if (MaxTextLength < 1) throw new ArgumentException("MaxTextLength must be positive");
        if (BusyTimeout < TimeSpan.Zero) throw new ArgumentException("BusyTimeout must not be negative");
        if (PostQuantumSeenResolution < TimeSpan.Zero) throw new ArgumentException("PostQuantumSeenResolution must not be negative");
    }
}
