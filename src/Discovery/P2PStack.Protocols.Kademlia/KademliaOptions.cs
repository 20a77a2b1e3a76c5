using P2PStack.Addressing;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Protocols.Kademlia;

/// <summary>Whether this node serves the DHT protocol or only queries it.</summary>
public enum DhtMode
{
    /// <summary>Serves <c>/ipfs/kad/1.0.0</c> and answers queries (reachable nodes).</summary>
    Server,
    /// <summary>Queries only: does not advertise or serve the protocol, so other peers do not add it to their tables.</summary>
    Client,
}

/// <summary>Settings of the Kademlia DHT; defaults follow go-libp2p-kad-dht's amino values unless noted.</summary>
public sealed class KademliaOptions
{
    /// <summary>Protocol id (<c>/ipfs/kad/1.0.0</c> for the public IPFS DHT; e.g. <c>/myapp/kad/1.0.0</c> for a private one).</summary>
    public string ProtocolId { get; set; } = KadProtocol.DefaultProtocolId;

    public DhtMode Mode { get; set; } = DhtMode.Server;

    /// <summary>k: bucket size and the number of closest peers lookups return and records are stored on.</summary>
    public int BucketSize { get; set; } = 20;

    /// <summary>α: requests in flight per lookup.</summary>
    public int Alpha { get; set; } = 3;

    /// <summary>β (resiliency): a lookup ends when this many of the closest peers seen have answered.</summary>
    public int Beta { get; set; } = 3;

    /// <summary>Largest DHT message read or written (go: 4 MiB).</summary>
    public int MaxMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Time for one request/response exchange with a peer, including opening the stream.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an idle inbound stream is kept open waiting for the next request.</summary>
    public TimeSpan InboundStreamIdleTimeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Most requests served on one inbound stream before it is closed.</summary>
    public int MaxRequestsPerStream { get; set; } = 1024;

    /// <summary>Most peers taken from one response's closerPeers (honest peers send at most k).</summary>
    public int MaxCloserPeersPerResponse { get; set; } = 40;

    /// <summary>Most addresses remembered per peer heard of in a response.</summary>
    public int MaxAddressesPerPeer { get; set; } = 16;

    /// <summary>Peers to bootstrap from (addresses with /p2p).</summary>
    public List<Multiaddr> BootstrapPeers { get; } = [];

    /// <summary>Interval of the routing table refresh; zero disables it (the spec suggests 5 minutes, go uses 10).</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Time limit of each refresh lookup.</summary>
    public TimeSpan RefreshQueryTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Highest bucket (common prefix length) refreshed with a random lookup; go refreshes up to 15.</summary>
    public int MaxRefreshCpl { get; set; } = 15;

    /// <summary>A routing table peer seen more recently than this is not pinged before eviction.</summary>
    public TimeSpan MinLivenessCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Value records older than this (by timeReceived) are dropped (go: 48 hours).</summary>
    public TimeSpan MaxRecordAge { get; set; } = TimeSpan.FromHours(48);

    /// <summary>Provider records older than this are dropped (go amino: 48 hours).</summary>
    public TimeSpan ProviderValidity { get; set; } = TimeSpan.FromHours(48);

    /// <summary>How long provider addresses stay in the peer store (go amino: 24 hours).</summary>
    public TimeSpan ProviderAddressTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long addresses heard in closerPeers stay in the peer store (go: TempAddrTTL, 2 minutes).</summary>
    public TimeSpan DiscoveredAddressTtl { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often expired records and providers are swept (spec: e.g. every hour).</summary>
    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Serves requests that arrive over onion circuits (the destination end, where the remote is an anonymous,
    /// usually ephemeral peer; <c>IProtocolHandler.RunForAnonymousRemotes</c>), so that others can publish and fetch
    /// records without naming themselves (shadow descriptors, docs/specs/shadow.md section 5). Such requests are
    /// served like any other; the remote's ephemeral peer id is what a PUT_VALUE records as its publisher.
    /// </summary>
    public bool ServeAnonymousPeers { get; set; } = true;

    /// <summary>Values collected before GetValue settles on the best one (Q in the spec; go: 16).</summary>
    public int GetValueQuorum { get; set; } = 16;

    /// <summary>Largest provider set FindProviders collects before stopping (0: until the lookup ends).</summary>
    public int MaxProvidersToFind { get; set; } = 20;

    public DiversityOptions Diversity { get; } = new();

    public RecordStoreLimits RecordLimits { get; } = new();

    public ProviderStoreLimits ProviderLimits { get; } = new();

    /// <summary>Record validators by namespace; <c>/pk</c> is registered by default.</summary>
    public NamespacedValidator Validator { get; } = new NamespacedValidator().Add(PublicKeyValidator.Namespace, new PublicKeyValidator());

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(ProtocolId);
        ArgumentOutOfRangeException.ThrowIfLessThan(BucketSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Alpha, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(Beta, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMessageSize, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCloserPeersPerResponse, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxRefreshCpl, 255);
    }
}
