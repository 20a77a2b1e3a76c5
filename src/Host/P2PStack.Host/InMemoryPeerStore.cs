using System.Collections.Concurrent;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;

namespace P2PStack.Host;

/// <summary>
/// Peer store kept in memory, for library use and tests. Thread-safe; address expiry is checked on read. Holds at most
/// <paramref name="maxPeers"/> peers: beyond that the least recently updated tenth is forgotten, so peers cycling
/// through cheap identities cannot grow it without bound; and at most <paramref name="maxAddressesPerPeer"/> addresses per
/// peer (those expiring soonest go first). A sweep (on a write, at most every <see cref="PeerStoreDefaults.SweepInterval"/>)
/// forgets peers left without a valid address and not written about for <paramref name="peerRetention"/>.
/// With a <paramref name="memory"/> scope (the host's resource manager's <c>service peerstore</c>) each peer reserves
/// <see cref="EntryBytes"/> there while it is held; when a new peer is refused, the least recently updated tenth of
/// the peers is forgotten and the peer tried again, and if still refused its information is not kept (the store is a
/// cache: callers go on without it; the refusal is counted in the scope).
/// </summary>
public sealed class InMemoryPeerStore(TimeProvider? timeProvider = null, int maxPeers = InMemoryPeerStore.DefaultMaxPeers,
    int maxAddressesPerPeer = PeerStoreDefaults.MaxAddressesPerPeer, TimeSpan? peerRetention = null,
    IResourceScope? memory = null) : IPeerStore
{
    public const int DefaultMaxPeers = PeerStoreDefaults.MaxPeers;

    /// <summary>The resource manager's service scope the host's in-memory peer store reserves in.</summary>
    public const string ResourceService = "peerstore";

    /// <summary>What one peer is reckoned to hold (its addresses at the per-peer maximum, protocols, key, record, entry
    /// overhead): reserved in the memory scope for each peer held.</summary>
    public long EntryBytes { get; } = 1024 + 96L * maxAddressesPerPeer;

    private readonly ConcurrentDictionary<PeerId, PeerEntry> _peers = new();
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly TimeSpan _retention = peerRetention ?? PeerStoreDefaults.PeerRetention;
    private long _lastSweepTicks = (timeProvider ?? TimeProvider.System).GetUtcNow().UtcTicks;
    private int _evicting;

    /// <summary>Weight of a new sample in the latency moving average (go-libp2p uses 0.1).</summary>
    public const double LatencySmoothing = 0.1;

    public IReadOnlyCollection<PeerId> Peers => [.. _peers.Keys];

    public void AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl)
    {
        var expiry = _time.GetUtcNow() + ttl;
        var entry = Entry(peer);
        lock (entry)
        {
            foreach (var address in addresses)
            {
                var plain = WithoutPeerSuffix(address, peer);
                if (!entry.Addresses.TryGetValue(plain, out var existing) || existing < expiry)
                    entry.Addresses[plain] = expiry;
            }
            if (entry.Addresses.Count > maxAddressesPerPeer)
            {
                int excess = entry.Addresses.Count - maxAddressesPerPeer;
                foreach (var dropped in entry.Addresses.OrderBy(a => a.Value).Take(excess).Select(a => a.Key).ToList())
                    entry.Addresses.Remove(dropped);
            }
        }
    }

    public void SetAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl)
    {
        var entry = Entry(peer);
        lock (entry)
        {
            entry.Addresses.Clear();
        }
        AddAddresses(peer, addresses, ttl);
    }

    public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer)
    {
        if (!_peers.TryGetValue(peer, out var entry)) return [];
        var now = _time.GetUtcNow();
        lock (entry)
        {
            foreach (var expired in entry.Addresses.Where(a => a.Value <= now).Select(a => a.Key).ToList())
                entry.Addresses.Remove(expired);
            return [.. entry.Addresses.OrderByDescending(a => a.Value).Select(a => a.Key)];
        }
    }

    public void SetProtocols(PeerId peer, IEnumerable<string> protocols)
    {
        var entry = Entry(peer);
        string[] list = [.. protocols.Distinct(StringComparer.Ordinal)];
        lock (entry) entry.Protocols = list;
    }

    public IReadOnlyList<string> GetProtocols(PeerId peer) =>
        _peers.TryGetValue(peer, out var entry) ? entry.Protocols : [];

    public void AddPublicKey(PeerId peer, PublicKey key)
    {
        if (!peer.Matches(key)) throw new ArgumentException($"the public key does not belong to peer {peer}", nameof(key));
        Entry(peer).PublicKey = key;
    }

    public PublicKey? GetPublicKey(PeerId peer) =>
        _peers.TryGetValue(peer, out var entry) ? entry.PublicKey ?? peer.TryGetPublicKey() : peer.TryGetPublicKey();

    public void RecordLatency(PeerId peer, TimeSpan rtt)
    {
        var entry = Entry(peer);
        lock (entry)
        {
            var old = entry.Latency;
            entry.Latency = old is null
                ? new LatencyStats(rtt, rtt, rtt, rtt, 1)
                : new LatencyStats(rtt, rtt < old.Min ? rtt : old.Min, rtt > old.Max ? rtt : old.Max,
                    TimeSpan.FromTicks((long)(old.Average.Ticks * (1 - LatencySmoothing) + rtt.Ticks * LatencySmoothing)),
                    old.Samples + 1);
        }
    }

    public LatencyStats? GetLatency(PeerId peer) => _peers.TryGetValue(peer, out var entry) ? entry.Latency : null;

    public void SetMetadata(PeerId peer, string key, string value) => Entry(peer).Metadata[key] = value;

    public string? GetMetadata(PeerId peer, string key) =>
        _peers.TryGetValue(peer, out var entry) && entry.Metadata.TryGetValue(key, out var value) ? value : null;

    public bool ConsumePeerRecord(SignedEnvelope envelope, PeerRecord record, TimeSpan ttl)
    {
        if (!envelope.Signer.Equals(record.PeerId))
            throw new ArgumentException("the envelope was not signed by the record's peer", nameof(envelope));
        var entry = Entry(record.PeerId);
        lock (entry)
        {
            if (entry.RecordSeq is { } seq && seq >= record.Seq) return false;
            entry.RecordSeq = record.Seq;
            entry.Record = envelope;
        }
        SetAddresses(record.PeerId, record.Addresses, ttl);
        return true;
    }

    public SignedEnvelope? GetPeerRecord(PeerId peer) => _peers.TryGetValue(peer, out var entry) ? entry.Record : null;

    public void RemovePeer(PeerId peer) => Remove(peer);

    private PeerEntry Entry(PeerId peer)
    {
        var now = _time.GetUtcNow();
        var entry = _peers.TryGetValue(peer, out var held) ? held : Add(peer);
        entry.Touched = _time.GetTimestamp();
        entry.LastWrittenTicks = now.UtcTicks;
        if (_peers.Count > maxPeers) EvictOldest();
        long last = Interlocked.Read(ref _lastSweepTicks);
        if (now.UtcTicks - last >= PeerStoreDefaults.SweepInterval.Ticks
            && Interlocked.CompareExchange(ref _lastSweepTicks, now.UtcTicks, last) == last)
        {
            Sweep(now);
        }
        return entry;
    }

    /// <summary>Drops expired addresses, and peers left without any that nothing was written about for the retention.</summary>
    private void Sweep(DateTimeOffset now)
    {
        long cutoff = (now - _retention).UtcTicks;
        foreach (var (peer, entry) in _peers)
        {
            lock (entry)
            {
                foreach (var expired in entry.Addresses.Where(a => a.Value <= now).Select(a => a.Key).ToList())
                    entry.Addresses.Remove(expired);
                if (entry.Addresses.Count > 0 || entry.LastWrittenTicks > cutoff) continue;
            }
            Remove(peer);
        }
    }

    /// <summary>A new peer's entry, stored when its memory is granted; otherwise a detached one whose writes are lost.</summary>
    private PeerEntry Add(PeerId peer)
    {
        if (memory is not null && !memory.TryReserveMemory(EntryBytes))
        {
            EvictOldest(Math.Max(1, _peers.Count / 10));
            if (!memory.TryReserveMemory(EntryBytes)) return new PeerEntry();
        }
        var created = new PeerEntry();
        var entry = _peers.GetOrAdd(peer, created);
        if (!ReferenceEquals(entry, created)) memory?.ReleaseMemory(EntryBytes); // another writer added it first
        return entry;
    }

    private void Remove(PeerId peer)
    {
        if (_peers.TryRemove(peer, out _)) memory?.ReleaseMemory(EntryBytes);
    }

    private void EvictOldest(int? count = null)
    {
        if (Interlocked.Exchange(ref _evicting, 1) != 0) return;
        try
        {
            int excess = count ?? _peers.Count - maxPeers + Math.Max(1, maxPeers / 10);
            foreach (var stale in _peers.OrderBy(p => p.Value.Touched).Take(excess).Select(p => p.Key).ToList())
                Remove(stale);
        }
        finally
        {
            Volatile.Write(ref _evicting, 0);
        }
    }

    private static Multiaddr WithoutPeerSuffix(Multiaddr address, PeerId peer) =>
        address.GetPeerId() is { } id && id.Equals(peer) ? address.DecapsulateCode(MultiaddrProtocols.P2P.Code) : address;

    private sealed class PeerEntry
    {
        public readonly Dictionary<Multiaddr, DateTimeOffset> Addresses = [];
        public readonly ConcurrentDictionary<string, string> Metadata = new(StringComparer.Ordinal);
        public string[] Protocols = [];
        public PublicKey? PublicKey;
        public LatencyStats? Latency;
        public ulong? RecordSeq;
        public long Touched;
        public long LastWrittenTicks;
        public SignedEnvelope? Record;
    }
}
