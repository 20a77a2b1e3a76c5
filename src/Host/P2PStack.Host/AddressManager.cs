using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// The host's <see cref="IAddressManager"/>: listen addresses (told by the host as listeners come and go), observed
/// addresses confirmed by <see cref="AddressOptions.ObservedAddressThreshold"/> observer networks, relay addresses
/// (told by the relay module), mapped addresses (told by the port mapping module), and the advertised set built from them and the announce
/// addresses (<see cref="HostOptions.AnnounceAddresses"/> at start, <see cref="SetAnnounceAddresses"/> at run time). Publishes
/// <see cref="LocalAddressesChanged"/> whenever the advertised set changes; the host calls <see cref="Refresh"/>
/// periodically so that expired observations and interface changes are noticed too.
/// </summary>
public sealed class AddressManager : IAddressManager
{
    private readonly HostOptions _options;
    private readonly ILocalIdentity _identity;
    private readonly IEventBus _events;
    private readonly ObservedAddresses _observed;
    private readonly Lock _gate = new();
    private readonly List<Multiaddr> _listen = [];
    private readonly List<Multiaddr> _relay = [];
    private IReadOnlyList<Multiaddr> _mapped = [];
    private IReadOnlyList<Multiaddr> _announce;
    private readonly Dictionary<Multiaddr, Reachability> _reachability = [];
    private IReadOnlyList<Multiaddr> _expandedListen = [];
    private IReadOnlyList<Multiaddr> _advertised = [];

    public AddressManager(IOptions<HostOptions> options, ILocalIdentity identity, IEventBus events, TimeProvider? timeProvider = null)
    {
        _options = options.Value;
        _options.Addresses.Validate();
        _identity = identity;
        _events = events;
        // A copy: changed at run time through SetAnnounceAddresses (which publishes the change), never by the options.
        _announce = [.. _options.AnnounceAddresses.Distinct()];
        var addresses = _options.Addresses;
        _observed = new ObservedAddresses(addresses.MaxObservedAddresses, addresses.ObservedAddressTtl, timeProvider,
            Math.Max(16, addresses.ObservedAddressThreshold * 4));
    }

    public IReadOnlyList<Multiaddr> ListenAddresses
    {
        get
        {
            lock (_gate) return [.. _listen];
        }
    }

    public IReadOnlyList<Multiaddr> ObservedAddresses =>
        [.. _observed.Get(_options.Addresses.ObservedAddressThreshold).Select(o => o.Address)];

    public IReadOnlyList<Multiaddr> ObservedAddressCandidates => [.. _observed.Get(1).Select(o => o.Address)];

    public IReadOnlyList<Multiaddr> RelayAddresses
    {
        get
        {
            lock (_gate) return [.. _relay];
        }
    }

    public IReadOnlyList<Multiaddr> MappedAddresses
    {
        get
        {
            lock (_gate) return _mapped;
        }
    }

    public IReadOnlyList<Multiaddr> AdvertisedAddresses => Volatile.Read(ref _advertised);

    public void RecordObservedAddress(IConnection connection, Multiaddr observed)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(observed);
        if (!connection.IsDirect || !connection.LocalPeer.Equals(_identity.PeerId)) return;
        if (!IsListenAddress(connection.LocalAddress) || !SameShape(connection.LocalAddress, observed)) return;
        bool known = ObservedAddresses.Contains(observed);
        _observed.Record(observed, connection.RemoteAddress);
        if (!known) Update();
    }

    public bool AddRelayAddress(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_gate)
        {
            if (_relay.Contains(address)) return false;
            if (_relay.Count >= _options.Addresses.MaxRelayAddresses)
                throw new ResourceLimitExceededException("address manager", "relay addresses", _options.Addresses.MaxRelayAddresses);
            _relay.Add(address);
        }
        Update();
        return true;
    }

    public bool RemoveRelayAddress(Multiaddr address)
    {
        lock (_gate)
        {
            if (!_relay.Remove(address)) return false;
        }
        Update();
        return true;
    }

    public void SetMappedAddresses(IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var distinct = addresses.Distinct().ToList();
        if (distinct.Count > _options.Addresses.MaxMappedAddresses)
            throw new ResourceLimitExceededException("address manager", "mapped addresses", _options.Addresses.MaxMappedAddresses);
        lock (_gate) _mapped = distinct;
        Update();
    }

    public IReadOnlyList<Multiaddr> AnnounceAddresses
    {
        get
        {
            lock (_gate) return _announce;
        }
    }

    public void SetAnnounceAddresses(IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        List<Multiaddr> distinct = [.. addresses.Distinct()];
        lock (_gate) _announce = distinct;
        Update();
    }

    public void SetReachability(Multiaddr address, Reachability reachability)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_gate)
        {
            if (reachability == Reachability.Unknown) _reachability.Remove(address);
            else if (_reachability.ContainsKey(address) || _reachability.Count < _options.Addresses.MaxObservedAddresses) _reachability[address] = reachability;
        }
        Update();
    }

    public IReadOnlyDictionary<Multiaddr, Reachability> Reachabilities
    {
        get
        {
            lock (_gate) return new Dictionary<Multiaddr, Reachability>(_reachability);
        }
    }

    /// <summary>Re-reads the interfaces and expires observations; publishes a change if the advertised set changed.</summary>
    public void Refresh()
    {
        lock (_gate) _expandedListen = AddressExpansion.Expand(_listen);
        Update();
    }

    internal void AddListenAddress(Multiaddr address)
    {
        lock (_gate)
        {
            _listen.Add(address);
            _expandedListen = AddressExpansion.Expand(_listen);
        }
        Update();
    }

    internal void RemoveListenAddress(Multiaddr address)
    {
        lock (_gate)
        {
            if (!_listen.Remove(address)) return;
            _expandedListen = AddressExpansion.Expand(_listen);
        }
        Update();
    }

    // Recomputes the advertised set; publishes when it differs from the last one published.
    private void Update()
    {
        IReadOnlyList<Multiaddr> advertised;
        lock (_gate)
        {
            advertised = Compute();
            if (advertised.SequenceEqual(_advertised)) return;
            Volatile.Write(ref _advertised, advertised);
        }
        _events.Publish(new LocalAddressesChanged(advertised));
    }

    private IReadOnlyList<Multiaddr> Compute()
    {
        var options = _options.Addresses;
        // Reachability checks: an address found public is advertised without waiting for observers, one found private is not.
        var verifiedPublic = _reachability.Where(r => r.Value == Reachability.Public).Select(r => r.Key);
        IEnumerable<Multiaddr> candidates = _announce.Count > 0
            ? _announce
            : _expandedListen.Concat(_mapped).Concat(ObservedAddresses).Concat(verifiedPublic).Concat(_relay);
        var result = candidates.Concat(options.AppendAnnounce).Distinct()
            .Where(a => !options.NoAnnounce.Any(filter => Matches(filter, a)))
            .Where(a => _reachability.GetValueOrDefault(a) != Reachability.Private)
            .ToList();
        return options.AnnounceFilter is { } filter ? [.. filter(result)] : result;
    }

    /// <summary>An address matches a no-announce entry equal to it, a prefix of it (<c>/ip4/10.0.0.1</c> hides every
    /// port on that IP), or an <c>/ip4|ip6/x/ipcidr/n</c> range holding its first IP.</summary>
    internal static bool Matches(Multiaddr filter, Multiaddr address)
    {
        var f = filter.Components;
        var a = address.Components;
        if (f.Count == 2 && f[1].Protocol == MultiaddrProtocols.IpCidr && a.Count > 0 && f[0].Protocol == a[0].Protocol
            && a[0].Protocol.Code is 4 or 41)
            return InRange(f[0].RawValue.Span, f[1].RawValue.Span[0], a[0].RawValue.Span);
        if (f.Count > a.Count) return false;
        for (int i = 0; i < f.Count; i++)
        {
            if (!f[i].Equals(a[i])) return false;
        }
        return true;
    }

    private static bool InRange(ReadOnlySpan<byte> network, int prefixBits, ReadOnlySpan<byte> ip)
    {
        if (network.Length != ip.Length || prefixBits > network.Length * 8) return false;
        int whole = prefixBits / 8;
        if (!network[..whole].SequenceEqual(ip[..whole])) return false;
        int rest = prefixBits % 8;
        if (rest == 0) return true;
        int mask = 0xff << (8 - rest) & 0xff;
        return (network[whole] & mask) == (ip[whole] & mask);
    }

    // The local side of a connection is a listen address when it has the same shape and port as one (an unspecified
    // listen IP matches any): only then can the observed port be dialed back.
    private bool IsListenAddress(Multiaddr local)
    {
        lock (_gate)
        {
            foreach (var listen in _listen)
            {
                if (!SameShape(listen, local)) continue;
                var l = listen.Components;
                var c = local.Components;
                bool match = true;
                for (int i = 0; i < l.Count && match; i++)
                {
                    if (i == 0 && l[0].Protocol.Code is 4 or 41 && IsUnspecified(l[0].ToIPAddress())) continue;
                    match = l[i].Equals(c[i]);
                }
                if (match) return true;
            }
            return false;
        }
    }

    private static bool IsUnspecified(System.Net.IPAddress ip) =>
        ip.Equals(System.Net.IPAddress.Any) || ip.Equals(System.Net.IPAddress.IPv6Any);

    private static bool SameShape(Multiaddr a, Multiaddr b) =>
        a.Components.Count == b.Components.Count
        && a.Components.Select(c => c.Protocol.Code).SequenceEqual(b.Components.Select(c => c.Protocol.Code));
}
