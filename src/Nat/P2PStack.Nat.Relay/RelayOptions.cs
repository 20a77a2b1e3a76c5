namespace P2PStack.Nat.Relay;

/// <summary>The relay service (hop): who may reserve, how many, and what a relayed connection may use.</summary>
public sealed class RelayServiceOptions
{
    /// <summary>Serve as a relay (<c>p2p init --relay-service</c>). Off by default.</summary>
    public bool Enabled { get; set; }

    /// <summary>How long a reservation lasts; clients refresh before it ends.</summary>
    public TimeSpan ReservationTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Reservations held at once.</summary>
    public int MaxReservations { get; set; } = 128;

    /// <summary>Reservations from peers at one IP address (one /64 for IPv6): a host with many identities still gets this many.</summary>
    public int MaxReservationsPerIp { get; set; } = 8;

    /// <summary>Relayed connections open at once.</summary>
    public int MaxCircuits { get; set; } = 64;

    /// <summary>Relayed connections to or from one peer.</summary>
    public int MaxCircuitsPerPeer { get; set; } = 16;

    /// <summary>Longest a relayed connection lives (null: no limit). go-libp2p's default: 2 minutes.</summary>
    public TimeSpan? LimitDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Bytes a relayed connection may carry in each direction (null: no limit). go-libp2p's default: 128 KiB.</summary>
    public long? LimitData { get; set; } = 128 * 1024;

    /// <summary>Budget of a hop request: reading it, the stop exchange with the target, the answer.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Advertise private addresses of the relay in reservations (only useful on a LAN or in tests).</summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>Test seam: false makes the service announce its limits without enforcing them (a lying relay).</summary>
    internal bool EnforceLimits { get; set; } = true;

    internal void Validate()
    {
        if (ReservationTtl < TimeSpan.FromSeconds(10)) throw new ArgumentOutOfRangeException(nameof(ReservationTtl), "at least 10 s");
        if (MaxReservations < 1) throw new ArgumentOutOfRangeException(nameof(MaxReservations), "at least 1");
        if (MaxReservationsPerIp < 1) throw new ArgumentOutOfRangeException(nameof(MaxReservationsPerIp), "at least 1");
        if (MaxCircuits < 1) throw new ArgumentOutOfRangeException(nameof(MaxCircuits), "at least 1");
        if (MaxCircuitsPerPeer < 1) throw new ArgumentOutOfRangeException(nameof(MaxCircuitsPerPeer), "at least 1");
        if (LimitDuration is { } d && d < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(LimitDuration), "at least 1 s");
        if (LimitData is < 1) throw new ArgumentOutOfRangeException(nameof(LimitData), "at least 1 byte");
        if (HandshakeTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), "must be positive");
    }

    public RelayLimit Limit => new(LimitDuration, LimitData);
}

/// <summary>The relay client: reservations on relays, relayed dials, the stop side.</summary>
public sealed class RelayClientOptions
{
    /// <summary>Budget of a reservation or connect request.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A reservation is refreshed this long before it expires.</summary>
    public TimeSpan RefreshMargin { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Refuse reservations whose expiration is sooner than this (a relay answering nonsense).</summary>
    public TimeSpan MinReservationLifetime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A Limit.duration above this many seconds is read as milliseconds (js-libp2p's relay sends ms). See
    /// <see cref="RelayLimit.FromWire"/>.</summary>
    public uint DurationMillisecondsThreshold { get; set; } = 86_400;

    /// <summary>
    /// Our side ends a relayed connection this long after the duration its relay announced, if the relay has not
    /// (a relay that does not enforce its own limit). The grace lets an honest relay's reset arrive first.
    /// </summary>
    public TimeSpan LimitGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Relays a node reserves on at most (with <c>--nat auto</c> or static <c>--relay</c>).</summary>
    public int MaxReservations { get; set; } = 3;

    /// <summary>Relays to hold a reservation on whatever the reachability (<c>p2p init --relay MULTIADDR</c>), each with
    /// its /p2p.</summary>
    public IList<P2PStack.Addressing.Multiaddr> StaticRelays { get; } = [];

    /// <summary>Reserve on connected peers that serve the hop protocol once AutoNAT finds the node private (<c>--nat auto</c>).</summary>
    public bool AutoRelay { get; set; }

    /// <summary>
    /// Accept relayed connections (the stop protocol) from any relay, not only from relays this node holds a
    /// reservation on through <see cref="RelayReservationManager"/>. For a libp2p daemon whose client makes
    /// reservations itself over raw hop streams (the interop suite does); a node leaves it off, so that no peer can
    /// push relayed connections at it through a relay it never chose.
    /// </summary>
    public bool AcceptFromAnyRelay { get; set; }

    /// <summary>How long to wait before trying a relay again after a failure, and between looks for new relays.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RequestTimeout), "must be positive");
        if (RefreshMargin < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RefreshMargin), "must not be negative");
        if (MinReservationLifetime < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MinReservationLifetime), "must not be negative");
        if (MaxReservations < 1) throw new ArgumentOutOfRangeException(nameof(MaxReservations), "at least 1");
        if (RetryInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RetryInterval), "must be positive");
        if (LimitGrace < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(LimitGrace), "must not be negative");
        foreach (var relay in StaticRelays)
        {
            if (relay.GetPeerId() is null) throw new ArgumentException($"static relay {relay} has no /p2p", nameof(StaticRelays));
        }
    }
}
