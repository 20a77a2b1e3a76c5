namespace P2PStack.Discovery.Rendezvous;

/// <summary>Limits of a rendezvous point (the server side of <c>/rendezvous/1.0.0</c>).</summary>
public sealed class RendezvousServerOptions
{
    /// <summary>Protocol ids served (the spec's id; add e.g. <c>/canvas/rendezvous/1.0.0</c> for that js client).</summary>
    public List<string> ProtocolIds { get; } = [RendezvousProtocol.Id];

    /// <summary>TTL granted to a REGISTER without one (spec: 2 h).</summary>
    public TimeSpan DefaultTtl { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Shortest TTL accepted; shorter ones are refused with E_INVALID_TTL.</summary>
    public TimeSpan MinTtl { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Longest TTL accepted (spec: 72 h); longer ones are refused with E_INVALID_TTL.</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromHours(72);

    /// <summary>Longest namespace, in UTF-8 bytes (spec: 255).</summary>
    public int MaxNamespaceLength { get; set; } = RendezvousProtocol.MaxNamespaceLength;

    /// <summary>Registrations held in all; further ones are refused with E_UNAVAILABLE.</summary>
    public int MaxRegistrations { get; set; } = 100_000;

    /// <summary>Registrations one peer may hold (over all namespaces); further ones: E_NOT_AUTHORIZED.</summary>
    public int MaxRegistrationsPerPeer { get; set; } = 1000;

    /// <summary>Registrations one namespace may hold; further ones: E_UNAVAILABLE.</summary>
    public int MaxRegistrationsPerNamespace { get; set; } = 10_000;

    /// <summary>Registrations returned by a DISCOVER with no limit (0).</summary>
    public int DefaultDiscoverLimit { get; set; } = 100;

    /// <summary>Most registrations one DISCOVER_RESPONSE carries; larger limits are clamped to this.</summary>
    public int MaxDiscoverLimit { get; set; } = 1000;

    /// <summary>Largest request message read; a larger one resets the stream.</summary>
    public int MaxRequestSize { get; set; } = 16 * 1024;

    /// <summary>Largest signed peer record accepted in a REGISTER.</summary>
    public int MaxSignedPeerRecordSize { get; set; } = 8 * 1024;

    /// <summary>A stream on which no request arrives for this long is closed.</summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromMinutes(1);

    internal void Validate()
    {
        if (ProtocolIds.Count == 0) throw new ArgumentException("at least one protocol id is needed", nameof(ProtocolIds));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MinTtl, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTtl, MinTtl);
        if (DefaultTtl < MinTtl || DefaultTtl > MaxTtl) throw new ArgumentOutOfRangeException(nameof(DefaultTtl), "must lie within MinTtl..MaxTtl");
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNamespaceLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRegistrations, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRegistrationsPerPeer, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRegistrationsPerNamespace, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(DefaultDiscoverLimit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDiscoverLimit, DefaultDiscoverLimit);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestSize, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSignedPeerRecordSize, 256);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(StreamIdleTimeout, TimeSpan.Zero);
    }
}

/// <summary>Settings of <see cref="RendezvousClient"/>.</summary>
public sealed class RendezvousClientOptions
{
    /// <summary>Protocol ids offered, in order of preference.</summary>
    public List<string> ProtocolIds { get; } = [RendezvousProtocol.Id];

    /// <summary>Time for one request: opening the stream, the request and its response.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest response read (a DISCOVER_RESPONSE of 1000 registrations is about 300 KiB).</summary>
    public int MaxResponseSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Discovered addresses are kept in the peer store for the registration's TTL, at most this long.</summary>
    public TimeSpan MaxAddressTtl { get; set; } = TimeSpan.FromHours(2);

    internal void Validate()
    {
        if (ProtocolIds.Count == 0) throw new ArgumentException("at least one protocol id is needed", nameof(ProtocolIds));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxResponseSize, 1024);
    }
}
