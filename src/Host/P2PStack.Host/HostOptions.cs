using P2PStack.Addressing;

namespace P2PStack.Host;

/// <summary>Addresses, timeouts and limits of a <see cref="PeerHost"/>.</summary>
public sealed class HostOptions
{
    /// <summary>Addresses to bind when the host starts (port 0 picks a free port).</summary>
    public List<Multiaddr> ListenAddresses { get; } = [];

    /// <summary>When set, the addresses announced to other peers instead of the (expanded) listen, observed and relay
    /// addresses. <see cref="AddressOptions.AppendAnnounce"/>, <see cref="AddressOptions.NoAnnounce"/> and
    /// <see cref="AddressOptions.AnnounceFilter"/> still apply. Read when the host starts; change them at run time with
    /// <c>IAddressManager.SetAnnounceAddresses</c>, which publishes the change.</summary>
    public List<Multiaddr> AnnounceAddresses { get; } = [];

    /// <summary>How the advertised addresses are built (observed address confirmation, announce filters).</summary>
    public AddressOptions Addresses { get; } = new();

    /// <summary>
    /// Protocol ids allowed on limited (relayed) connections besides those of handlers that opt in
    /// (<c>IProtocolHandler.RunOnLimitedConnections</c>): for protocols this node only dials out with.
    /// </summary>
    public List<string> LimitedConnectionProtocols { get; } = [];

    /// <summary>
    /// Protocol ids served inbound on anonymous connections (<c>IConnection.IsAnonymous</c>: the end-to-end connection
    /// over an onion circuit) besides those of handlers that opt in (<c>IProtocolHandler.RunOnAnonymousConnections</c>):
    /// an application protocol this node offers to anonymous peers.
    /// </summary>
    public List<string> AnonymousConnectionProtocols { get; } = [];

    /// <summary>
    /// Every protocol may run on limited (relayed) connections, both ways. For a libp2p daemon, whose clients choose
    /// the protocols at run time and may ask for streams over a relayed connection (go's daemon allows them too); a
    /// node keeps it off, so that only protocols that opt in spend a relay's limited budget.
    /// </summary>
    public bool AllProtocolsOnLimitedConnections { get; set; }

    /// <summary>Budget of one dial attempt to one address: transport connect plus every upgrade step.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Budget of the security and muxer negotiation of an inbound connection.</summary>
    public TimeSpan InboundUpgradeTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Budget of the multistream-select negotiation on a new stream.</summary>
    public TimeSpan StreamNegotiationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Peers whose accepted security protocol a dialer remembers, to propose it optimistically on the next dial (the
    /// proposal and the handshake's first message in one write, a round trip less; <see cref="SecuritySuiteMemory"/>).
    /// Only a dial's first choice is remembered, never a fallback (which would make one refusal a lasting downgrade).
    /// 0 turns optimistic security negotiation off.
    /// </summary>
    public int OptimisticSecurityPeers { get; set; } = 1024;

    /// <summary>How long a remembered security protocol is proposed optimistically; after that, a dial negotiates in
    /// full again (and so notices a peer that now offers a stronger suite).</summary>
    public TimeSpan OptimisticSecurityLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a graceful close lets open streams finish before the connection is torn down.</summary>
    public TimeSpan ConnectionCloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    public HostLimits Limits { get; } = new();

    /// <summary>The resource manager's limits (scopes system, transient, service, protocol, peer, connection, stream),
    /// scaled to the machine's memory unless set.</summary>
    public ResourceManagerOptions Resources { get; } = new();

    /// <summary>The limits the resource manager enforces: <see cref="Resources"/>, with the connection and stream counts
    /// of <see cref="Limits"/> that are set written over their scopes (one source of truth for every count).</summary>
    public ResourceLimits EffectiveResourceLimits()
    {
        var limits = Resources.Effective();
        if (Limits.MaxConnections is { } total)
            limits = limits with { System = limits.System with { Connections = total } };
        if (Limits.MaxConnectionsPerPeer is { } perPeer)
            limits = limits with
            {
                Peer = limits.Peer with { Connections = perPeer, ConnectionsInbound = perPeer, ConnectionsOutbound = perPeer },
            };
        if (Limits.MaxStreamsPerConnection is { } perConnection)
            limits = limits with { Connection = limits.Connection with { Streams = perConnection } };
        return limits;
    }

    public ConnectionManagerOptions ConnectionManager { get; } = new();

    public HostMetricsOptions Metrics { get; } = new();
}

/// <summary>Bounds of the host's instruments (meter <c>P2PStack.Host</c>).</summary>
public sealed class HostMetricsOptions
{
    /// <summary>Connected peers whose round-trip times are exported (<c>p2pstack_peer_rtt_seconds</c>), 4 series each.</summary>
    public int MaxPeerRttSeries { get; set; } = 64;
}

/// <summary>
/// Limits the host applies beside the resource manager (handshakes, connections per IP), and shortcuts to the
/// resource manager's connection and stream counts: <see cref="MaxConnections"/>, <see cref="MaxConnectionsPerPeer"/>
/// and <see cref="MaxStreamsPerConnection"/>, when set, replace the matching limits of <see cref="HostOptions.Resources"/>
/// (<see cref="HostOptions.EffectiveResourceLimits"/>); unset, the resource manager's own apply. Exceeding one refuses
/// the resource with <c>ResourceLimitExceededException</c>.
/// </summary>
public sealed class HostLimits
{
    /// <summary>Connections of the whole host, both directions, counted from accept or dial (the resource manager's
    /// <c>system</c> connections). Null: the resource manager's (128, plus 128 per GiB above 128 MiB).</summary>
    public int? MaxConnections { get; set; }

    /// <summary>Connections to one peer, in each direction and in total (the resource manager's <c>peer</c>
    /// connections). Null: the resource manager's (8, as go-libp2p).</summary>
    public int? MaxConnectionsPerPeer { get; set; }

    /// <summary>Inbound connections still in their handshake; more are dropped at accept.</summary>
    public int MaxPendingInbound { get; set; } = 64;

    /// <summary>Inbound connections in their handshake from one IP address (one /64 for IPv6), so one host cannot take
    /// every slot.</summary>
    public int MaxPendingInboundPerIp { get; set; } = 8;

    /// <summary>Established inbound connections from one IP address (one /64 for IPv6), so one host with many peer ids
    /// cannot take every connection slot (and make trimming close honest peers). Connections over proxy transports
    /// (relay circuits) are not counted: their address is the relay's.</summary>
    public int MaxInboundConnectionsPerIp { get; set; } = 16;

    /// <summary>Whether loopback addresses are exempt from <see cref="MaxInboundConnectionsPerIp"/>: local peers are this
    /// machine's own processes (tests, a local daemon), which an outside attacker cannot be.</summary>
    public bool ExemptLoopbackFromIpLimit { get; set; } = true;

    /// <summary>Open streams on one connection, both directions (the resource manager's <c>connection</c> streams; its
    /// per-direction limits, 256 inbound and 512 outbound, still apply); inbound streams over it are reset. Null: the
    /// resource manager's (512).</summary>
    public int? MaxStreamsPerConnection { get; set; }
}

/// <summary>Watermarks of the connection manager (go-libp2p's basic connmgr semantics).</summary>
public sealed class ConnectionManagerOptions
{
    /// <summary>Trimming stops once the count is down to this many connections.</summary>
    public int LowWater { get; set; } = 160;

    /// <summary>Trimming starts when the count exceeds this many connections.</summary>
    public int HighWater { get; set; } = 192;

    /// <summary>New connections are never trimmed before this age.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How often the watermarks are checked (also checked whenever a connection is added).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>How the address manager builds the advertised addresses.</summary>
public sealed class AddressOptions
{
    /// <summary>Addresses advertised in addition to the listen, observed and relay addresses (e.g. a port forwarded by
    /// hand).</summary>
    public List<Multiaddr> AppendAnnounce { get; } = [];

    /// <summary>Never advertised: an address equal to an entry, starting with one (<c>/ip4/10.0.0.1</c> hides every
    /// port on it), or whose IP lies in an <c>/ip4|ip6/x/ipcidr/n</c> entry (<c>/ip4/192.168.0.0/ipcidr/16</c>).</summary>
    public List<Multiaddr> NoAnnounce { get; } = [];

    /// <summary>Last say over the advertised set, after the lists above (null: none).</summary>
    public Func<IReadOnlyList<Multiaddr>, IReadOnlyList<Multiaddr>>? AnnounceFilter { get; set; }

    /// <summary>Distinct observer networks (/16 for IPv4, /56 for IPv6) that must report the same observed address
    /// before it is advertised; one host with many peer ids counts once.</summary>
    public int ObservedAddressThreshold { get; set; } = 4;

    /// <summary>How long one observation counts.</summary>
    public TimeSpan ObservedAddressTtl { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Distinct observed addresses tracked at once (remote peers choose them, so the number is bounded).</summary>
    public int MaxObservedAddresses { get; set; } = 64;

    /// <summary>Relay addresses advertised at once.</summary>
    public int MaxRelayAddresses { get; set; } = 16;

    /// <summary>Addresses a gateway maps to this node (port mapping) advertised at once.</summary>
    public int MaxMappedAddresses { get; set; } = 16;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ObservedAddressThreshold, 1, nameof(ObservedAddressThreshold));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ObservedAddressTtl, TimeSpan.Zero, nameof(ObservedAddressTtl));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxObservedAddresses, 1, nameof(MaxObservedAddresses));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRelayAddresses, 0, nameof(MaxRelayAddresses));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMappedAddresses, 0, nameof(MaxMappedAddresses));
    }
}
