using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Daemon;

/// <summary>The pubsub routers the daemon can run (go-libp2p-daemon's -pubsubRouter).</summary>
public enum PubSubRouter
{
    GossipSub,
    FloodSub,
}

/// <summary>
/// What the daemon's node runs: the settings behind go-libp2p-daemon's flags (identity, host addresses, DHT, pubsub,
/// security, muxer, relay, connection manager, bootstrap). <see cref="DaemonCapabilities"/> says which values this
/// build supports; <see cref="Validate"/> refuses the others.
/// </summary>
public sealed class DaemonNodeSettings
{
    /// <summary>The node's key; null makes a new Ed25519 identity (as p2pd without -id).</summary>
    public PrivateKey? Identity { get; set; }

    /// <summary>Listen addresses of the node (-hostAddrs). Ignored with <see cref="NoListen"/>.</summary>
    public List<Multiaddr> HostAddresses { get; } = [Multiaddr.Parse("/ip4/0.0.0.0/tcp/0")];

    /// <summary>Addresses announced instead of the listen addresses (-announceAddrs).</summary>
    public List<Multiaddr> AnnounceAddresses { get; } = [];

    /// <summary>Listen on nothing (-noListenAddrs): the node only dials.</summary>
    public bool NoListen { get; set; }

    /// <summary>The DHT (<c>/ipfs/kad/1.0.0</c>, as p2pd) in this mode; null runs none.</summary>
    public DhtMode? Dht { get; set; }

    /// <summary>Run a pubsub router (-pubsub).</summary>
    public bool PubSub { get; set; }

    public PubSubRouter PubSubRouter { get; set; } = PubSubRouter.GossipSub;

    /// <summary>Sign published messages and require signatures (-pubsubSign); off means no author, seqno or signature.</summary>
    public bool PubSubSign { get; set; } = true;

    public TimeSpan? GossipSubHeartbeatInterval { get; set; }

    public TimeSpan? GossipSubHeartbeatInitialDelay { get; set; }

    /// <summary>Security protocols in preference order: <c>noise</c>, <c>tls</c>.</summary>
    public List<string> Security { get; } = ["noise"];

    /// <summary>Stream muxers in preference order: <c>yamux</c> (go's -muxer also knows <c>mplex</c>).</summary>
    public List<string> Muxers { get; } = ["yamux"];

    /// <summary>Serve as a circuit relay v2 hop (-relay). Relayed dials and accepting relayed connections are always on.</summary>
    public bool Relay { get; set; }

    /// <summary>Use the watermarks below (-connManager); otherwise the host's defaults apply.</summary>
    public bool ConnManager { get; set; }

    public int ConnLow { get; set; } = 256;

    public int ConnHigh { get; set; } = 512;

    public TimeSpan ConnGrace { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Peers to connect to at start (-bootstrapPeers); also the DHT's bootstrap peers.</summary>
    public List<Multiaddr> BootstrapPeers { get; } = [];

    /// <summary>Connect to <see cref="BootstrapPeers"/> at start (-b).</summary>
    public bool Bootstrap { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> for a value this build cannot run, naming what it offers.</summary>
    public void Validate()
    {
        if (Security.Count == 0) throw new ArgumentException("no security protocol selected");
        foreach (string security in Security)
        {
            if (!DaemonCapabilities.Security.Contains(security))
                throw new ArgumentException($"security '{security}' is not available in this build (available: {string.Join(", ", DaemonCapabilities.Security)})");
        }
        if (Muxers.Count == 0) throw new ArgumentException("no stream muxer selected");
        foreach (string muxer in Muxers)
        {
            if (!DaemonCapabilities.Muxers.Contains(muxer))
                throw new ArgumentException($"muxer '{muxer}' is not available in this build (available: {string.Join(", ", DaemonCapabilities.Muxers)})");
        }
        if (Relay && !DaemonCapabilities.Relay)
            throw new ArgumentException("circuit relay v2 is not available in this build");
        if (Bootstrap && BootstrapPeers.Count == 0)
            throw new ArgumentException("bootstrap needs peers (there is no built-in public bootstrap list): give --bootstrap-peers");
        foreach (var peer in BootstrapPeers)
        {
            if (peer.GetPeerId() is null) throw new ArgumentException($"bootstrap peer {peer} has no /p2p/<peer id>");
        }
        if (ConnManager && (ConnLow < 0 || ConnHigh < ConnLow || ConnGrace < TimeSpan.Zero))
            throw new ArgumentException("connection manager watermarks must satisfy 0 <= low <= high, and the grace period must not be negative");
        if (GossipSubHeartbeatInterval is { } interval && interval <= TimeSpan.Zero)
            throw new ArgumentException("the gossipsub heartbeat interval must be positive");
        if (GossipSubHeartbeatInitialDelay is { } delay && delay < TimeSpan.Zero)
            throw new ArgumentException("the gossipsub heartbeat initial delay must not be negative");
    }
}

/// <summary>What this build of the daemon offers; a test factory skips what is not listed.</summary>
public static class DaemonCapabilities
{
    /// <summary>Transports the node dials and listens on.</summary>
    public static IReadOnlyList<string> Transports { get; } = ["tcp", "ws"];

    /// <summary>Security protocols: <c>noise</c> is <c>/noise</c> (with our hybrid post-quantum suites offered first),
    /// <c>tls</c> is <c>/tls/1.0.0</c>.</summary>
    public static IReadOnlyList<string> Security { get; } = ["noise", "tls"];

    public static IReadOnlyList<string> Muxers { get; } = ["yamux"];

    public static IReadOnlyList<string> PubSubRouters { get; } = ["gossipsub", "floodsub"];

    public static bool Dht => true;

    /// <summary>Circuit relay v2 (hop service, relayed dials and listening).</summary>
    public static bool Relay => true;
}
