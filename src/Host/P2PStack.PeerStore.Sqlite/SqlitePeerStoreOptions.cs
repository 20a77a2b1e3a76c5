using P2PStack.Network;

namespace P2PStack.PeerStore.Sqlite;

/// <summary>Where and how the SQLite peer store keeps its data.</summary>
public sealed class SqlitePeerStoreOptions
{
    /// <summary>Database file; created (with its directory) when missing.</summary>
    public string Path { get; set; } = "peerstore.db";

    /// <summary>Weight of a new sample in the latency moving average (go-libp2p uses 0.1).</summary>
    public double LatencySmoothing { get; set; } = 0.1;

    /// <summary>How long a write waits for another process holding the database lock.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest signed peer record envelope kept (and re-verified on read).</summary>
    public int MaxPeerRecordSize { get; set; } = 64 * 1024;

    /// <summary>Addresses kept per peer; beyond it the ones expiring soonest are dropped.</summary>
    public int MaxAddressesPerPeer { get; set; } = PeerStoreDefaults.MaxAddressesPerPeer;

    /// <summary>Peers kept; beyond it the least recently written tenth is forgotten.</summary>
    public int MaxPeers { get; set; } = PeerStoreDefaults.MaxPeers;

    /// <summary>A peer without a valid address is forgotten once nothing was written about it for this long (checked
    /// by a sweep on writes, at most every <see cref="PeerStoreDefaults.SweepInterval"/>).</summary>
    public TimeSpan PeerRetention { get; set; } = PeerStoreDefaults.PeerRetention;

    /// <summary>How long a write may wait to be committed with the ones after it (one transaction for a connection's
    /// writes instead of one each); reads always see it at once. Zero: committed as soon as a thread-pool thread
    /// gets to it. At most <see cref="SqlitePeerStore.MaxWriteDelay"/>.</summary>
    public TimeSpan WriteDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Writes that may wait; the one that reaches this number commits them all before it returns.</summary>
    public int MaxPendingWrites { get; set; } = 512;

    /// <summary>Clock for address expiry; the system clock when null.</summary>
    public TimeProvider? TimeProvider { get; set; }
}
