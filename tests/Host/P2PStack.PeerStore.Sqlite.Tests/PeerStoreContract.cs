using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;

namespace P2PStack.PeerStore.Sqlite.Tests;

/// <summary>
/// Behaviour every <see cref="IPeerStore"/> must have. The in-memory store and the SQLite store both run it, so the
/// node's persistent store cannot drift from the library's reference one.
/// </summary>
public abstract class PeerStoreContract : IDisposable
{
    protected readonly ManualTimeProvider Clock = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly Lazy<IPeerStore> _store;

    protected PeerStoreContract() => _store = new(() => CreateStore(Clock), LazyThreadSafetyMode.ExecutionAndPublication);

    // One store even when parallel tests touch it first at once: a second SQLite store on the file would keep its
    // queued writes to itself (reads see the writes made through the same store).
    protected IPeerStore Store => _store.Value;

    protected abstract IPeerStore CreateStore(TimeProvider time, int maxPeers = PeerStoreDefaults.MaxPeers);

    public virtual void Dispose()
    {
        if (_store.IsValueCreated) (_store.Value as IDisposable)?.Dispose();
        GC.SuppressFinalize(this);
    }

    protected static PeerId NewPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    protected static Multiaddr Addr(string text) => Multiaddr.Parse(text);

    [Fact]
    public void UnknownPeerHasNothing()
    {
        var peer = NewPeer();
        Assert.Empty(Store.GetAddresses(peer));
        Assert.Empty(Store.GetProtocols(peer));
        Assert.Null(Store.GetLatency(peer));
        Assert.Null(Store.GetMetadata(peer, "agent"));
        Assert.Null(Store.GetPeerRecord(peer));
        Assert.DoesNotContain(peer, Store.Peers);
    }

    [Fact]
    public void AddedAddressesAreReturnedOnceEach()
    {
        var peer = NewPeer();
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/4001"), Addr("/ip4/10.0.0.2/tcp/4001")], TimeSpan.FromMinutes(10));
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/4001")], TimeSpan.FromMinutes(10));
        var addresses = Store.GetAddresses(peer);
        Assert.Equal(2, addresses.Count);
        Assert.Contains(Addr("/ip4/10.0.0.1/tcp/4001"), addresses);
        Assert.Contains(Addr("/ip4/10.0.0.2/tcp/4001"), addresses);
        Assert.Contains(peer, Store.Peers);
    }

    [Fact]
    public void OwnPeerSuffixIsStrippedButAnotherPeersIsKept()
    {
        var peer = NewPeer();
        var relay = NewPeer();
        Store.AddAddresses(peer, [Addr($"/ip4/10.0.0.1/tcp/4001/p2p/{peer}")], TimeSpan.FromMinutes(10));
        Store.AddAddresses(peer, [Addr($"/ip4/10.0.0.1/tcp/4001")], TimeSpan.FromMinutes(10));
        Store.AddAddresses(peer, [Addr($"/ip4/10.0.0.9/tcp/4001/p2p/{relay}/p2p-circuit")], TimeSpan.FromMinutes(10));
        var addresses = Store.GetAddresses(peer);
        Assert.Equal(2, addresses.Count);
        Assert.Contains(Addr("/ip4/10.0.0.1/tcp/4001"), addresses);
        Assert.Contains(Addr($"/ip4/10.0.0.9/tcp/4001/p2p/{relay}/p2p-circuit"), addresses);
    }

    [Fact]
    public void AddressesExpireAfterTheirTtl()
    {
        var peer = NewPeer();
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromMinutes(1));
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.2/tcp/2")], TimeSpan.FromMinutes(5));
        Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal([Addr("/ip4/10.0.0.2/tcp/2")], Store.GetAddresses(peer));
        Clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Empty(Store.GetAddresses(peer));
    }

    [Fact]
    public void AddingAgainWithAShorterTtlDoesNotShortenTheExpiry()
    {
        var peer = NewPeer();
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromMinutes(10));
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromMinutes(1));
        Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal([Addr("/ip4/10.0.0.1/tcp/1")], Store.GetAddresses(peer));
    }

    [Fact]
    public void LongestLivedAddressesComeFirst()
    {
        var peer = NewPeer();
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromMinutes(1));
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.3/tcp/3")], TimeSpan.FromMinutes(30));
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.2/tcp/2")], TimeSpan.FromMinutes(10));
        Assert.Equal([Addr("/ip4/10.0.0.3/tcp/3"), Addr("/ip4/10.0.0.2/tcp/2"), Addr("/ip4/10.0.0.1/tcp/1")], Store.GetAddresses(peer));
    }

    [Fact]
    public void HugeTtlMeansNoExpiry()
    {
        var peer = NewPeer();
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromDays(365 * 1000));
        Clock.Advance(TimeSpan.FromDays(365 * 10));
        Assert.Single(Store.GetAddresses(peer));
    }

    [Fact]
    public void AddressesPerPeerAreCappedDroppingThoseThatExpireSoonest()
    {
        // A peer announcing ever new short-lived addresses (identify push, DHT answers) cannot grow its entry.
        var peer = NewPeer();
        int cap = PeerStoreDefaults.MaxAddressesPerPeer;
        var longLived = Addr("/ip4/192.168.0.1/tcp/1");
        Store.AddAddresses(peer, [longLived], TimeSpan.FromDays(1));
        for (int round = 0; round < 3; round++)
        {
            Store.AddAddresses(peer, Enumerable.Range(0, cap).Select(i => Addr($"/ip4/10.{round}.{i / 256}.{i % 256}/tcp/4001")),
                TimeSpan.FromMinutes(10 + round));
        }

        var addresses = Store.GetAddresses(peer);
        Assert.Equal(cap, addresses.Count);
        Assert.Equal(longLived, addresses[0]);
        Assert.Equal(cap - 1, addresses.Count(a => a.ToString().StartsWith("/ip4/10.2.", StringComparison.Ordinal)));
    }

    [Fact]
    public void SetAddressesReplacesThePreviousOnes()
    {
        var peer = NewPeer();
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1"), Addr("/ip4/10.0.0.2/tcp/2")], TimeSpan.FromMinutes(10));
        Store.SetAddresses(peer, [Addr("/ip4/10.0.0.3/tcp/3")], TimeSpan.FromMinutes(10));
        Assert.Equal([Addr("/ip4/10.0.0.3/tcp/3")], Store.GetAddresses(peer));
        Store.SetAddresses(peer, [], TimeSpan.FromMinutes(10));
        Assert.Empty(Store.GetAddresses(peer));
    }

    [Fact]
    public void ProtocolsAreReplacedDeduplicatedAndKeepTheirOrder()
    {
        var peer = NewPeer();
        Store.SetProtocols(peer, ["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/perf/1.0.0"]);
        Assert.Equal(["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/perf/1.0.0"], Store.GetProtocols(peer));
        Store.SetProtocols(peer, ["/meshsub/1.1.0"]);
        Assert.Equal(["/meshsub/1.1.0"], Store.GetProtocols(peer));
        Store.SetProtocols(peer, []);
        Assert.Empty(Store.GetProtocols(peer));
    }

    [Fact]
    public void InlinedKeyIsKnownWithoutBeingAdded()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519).PublicKey;
        Assert.Equal(key, Store.GetPublicKey(PeerId.FromPublicKey(key)));
    }

    [Fact]
    public void HashedPeerIdKeyIsStoredAfterItIsChecked()
    {
        var key = PrivateKey.Generate(KeyType.Ecdsa).PublicKey;
        var peer = PeerId.FromPublicKey(key);
        Assert.Null(Store.GetPublicKey(peer));
        Assert.Throws<ArgumentException>(() => Store.AddPublicKey(peer, PrivateKey.Generate(KeyType.Ecdsa).PublicKey));
        Assert.Null(Store.GetPublicKey(peer));
        Store.AddPublicKey(peer, key);
        Assert.Equal(key, Store.GetPublicKey(peer));
    }

    [Fact]
    public void LatencyKeepsCurrentMinMaxAndASmoothedAverage()
    {
        var peer = NewPeer();
        Store.RecordLatency(peer, TimeSpan.FromMilliseconds(10));
        var first = Store.GetLatency(peer)!;
        Assert.Equal(new LatencyStats(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(10),
            TimeSpan.FromMilliseconds(10), 1), first);
        Store.RecordLatency(peer, TimeSpan.FromMilliseconds(30));
        Store.RecordLatency(peer, TimeSpan.FromMilliseconds(5));
        var stats = Store.GetLatency(peer)!;
        Assert.Equal(TimeSpan.FromMilliseconds(5), stats.Current);
        Assert.Equal(TimeSpan.FromMilliseconds(5), stats.Min);
        Assert.Equal(TimeSpan.FromMilliseconds(30), stats.Max);
        Assert.Equal(3, stats.Samples);
        // 0.1 smoothing: 10 -> 12 -> 11.3 ms.
        Assert.Equal(11.3, stats.Average.TotalMilliseconds, 3);
    }

    [Fact]
    public void ConcurrentLatencySamplesAreAllCounted()
    {
        var peer = NewPeer();
        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => Store.RecordLatency(peer, TimeSpan.FromMilliseconds(1 + i % 7)));
        var stats = Store.GetLatency(peer)!;
        Assert.Equal(200, stats.Samples);
        Assert.Equal(TimeSpan.FromMilliseconds(1), stats.Min);
        Assert.Equal(TimeSpan.FromMilliseconds(7), stats.Max);
    }

    [Fact]
    public void MetadataIsSetAndOverwritten()
    {
        var peer = NewPeer();
        Store.SetMetadata(peer, "agent", "go-libp2p/0.36");
        Store.SetMetadata(peer, "protocolVersion", "ipfs/0.1.0");
        Store.SetMetadata(peer, "agent", "rust-libp2p/0.54");
        Assert.Equal("rust-libp2p/0.54", Store.GetMetadata(peer, "agent"));
        Assert.Equal("ipfs/0.1.0", Store.GetMetadata(peer, "protocolVersion"));
        Assert.Null(Store.GetMetadata(peer, "Agent"));
    }

    [Fact]
    public void OnlyNewerPeerRecordsAreKeptAndTheyReplaceAddresses()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromMinutes(10));

        var record5 = new PeerRecord(peer, 5, [Addr("/ip4/10.0.0.5/tcp/5")]);
        var envelope5 = record5.Seal(key);
        Assert.True(Store.ConsumePeerRecord(envelope5, record5, TimeSpan.FromMinutes(10)));
        Assert.Equal([Addr("/ip4/10.0.0.5/tcp/5")], Store.GetAddresses(peer));
        Assert.Equal(envelope5.ToBytes(), Store.GetPeerRecord(peer)!.ToBytes());

        var older = new PeerRecord(peer, 4, [Addr("/ip4/10.0.0.4/tcp/4")]);
        Assert.False(Store.ConsumePeerRecord(older.Seal(key), older, TimeSpan.FromMinutes(10)));
        var same = new PeerRecord(peer, 5, [Addr("/ip4/10.0.0.6/tcp/6")]);
        Assert.False(Store.ConsumePeerRecord(same.Seal(key), same, TimeSpan.FromMinutes(10)));
        Assert.Equal([Addr("/ip4/10.0.0.5/tcp/5")], Store.GetAddresses(peer));
        Assert.Equal(envelope5.ToBytes(), Store.GetPeerRecord(peer)!.ToBytes());

        var newest = new PeerRecord(peer, ulong.MaxValue, [Addr("/ip4/10.0.0.7/tcp/7")]);
        Assert.True(Store.ConsumePeerRecord(newest.Seal(key), newest, TimeSpan.FromMinutes(10)));
        Assert.Equal([Addr("/ip4/10.0.0.7/tcp/7")], Store.GetAddresses(peer));
        Assert.Equal(ulong.MaxValue, PeerRecord.FromEnvelope(Store.GetPeerRecord(peer)!).Seq);
    }

    [Fact]
    public void RecordSignedByAnotherPeerIsRefused()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var other = PrivateKey.Generate(KeyType.Ed25519);
        var record = new PeerRecord(PeerId.FromPublicKey(key.PublicKey), 1, [Addr("/ip4/10.0.0.1/tcp/1")]);
        var otherRecord = new PeerRecord(PeerId.FromPublicKey(other.PublicKey), 1, [Addr("/ip4/10.0.0.1/tcp/1")]);
        Assert.Throws<ArgumentException>(() => Store.ConsumePeerRecord(otherRecord.Seal(other), record, TimeSpan.FromMinutes(1)));
        Assert.Null(Store.GetPeerRecord(record.PeerId));
    }

    [Fact]
    public void RemovePeerForgetsEverything()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        var keep = NewPeer();
        Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromMinutes(10));
        Store.SetProtocols(peer, ["/ipfs/ping/1.0.0"]);
        Store.RecordLatency(peer, TimeSpan.FromMilliseconds(3));
        Store.SetMetadata(peer, "agent", "x");
        var record = new PeerRecord(peer, 1, [Addr("/ip4/10.0.0.2/tcp/2")]);
        Store.ConsumePeerRecord(record.Seal(key), record, TimeSpan.FromMinutes(10));
        Store.SetProtocols(keep, ["/perf/1.0.0"]);

        Store.RemovePeer(peer);
        Assert.Empty(Store.GetAddresses(peer));
        Assert.Empty(Store.GetProtocols(peer));
        Assert.Null(Store.GetLatency(peer));
        Assert.Null(Store.GetMetadata(peer, "agent"));
        Assert.Null(Store.GetPeerRecord(peer));
        Assert.DoesNotContain(peer, Store.Peers);
        Assert.Contains(keep, Store.Peers);
        Assert.Equal(["/perf/1.0.0"], Store.GetProtocols(keep));
        // A removed peer accepts an older record again: its sequence number was forgotten too.
        var older = new PeerRecord(peer, 0, [Addr("/ip4/10.0.0.3/tcp/3")]);
        Assert.True(Store.ConsumePeerRecord(older.Seal(key), older, TimeSpan.FromMinutes(10)));
    }

    /// <summary>Attack path 7: every Kad answer adds up to 20 peers, and identities are free; a store without a cap
    /// grows for ever (the SQLite store had none). Here with a cap of 300, as the default of 10,000 takes long to fill.</summary>
    [Fact]
    public void PeerCountIsCappedForgettingTheLeastRecentlyWritten()
    {
        var store = CreateStore(Clock, maxPeers: 300);
        try
        {
            var random = new Random(1);
            var first = NewPeer();
            store.AddAddresses(first, [Addr("/ip4/10.0.0.9/tcp/4001")], TimeSpan.FromHours(1));
            for (int i = 0; i < 400; i++)
            {
                var bytes = new byte[34];
                bytes[0] = 0x12;
                bytes[1] = 0x20;
                random.NextBytes(bytes.AsSpan(2));
                store.AddAddresses(PeerId.FromBytes(bytes), [Addr("/ip4/10.0.0.1/tcp/4001")], TimeSpan.FromHours(1));
                if (i % 50 == 0) store.RecordLatency(first, TimeSpan.FromMilliseconds(1)); // kept fresh by use
            }
            Assert.InRange(store.Peers.Count, 250, 300);
            Assert.Contains(first, store.Peers);
        }
        finally
        {
            (store as IDisposable)?.Dispose();
        }
    }

    /// <summary>Attack path 7: peers whose addresses all expired long ago (the typical Kad answer, never dialed) are
    /// swept; a peer recently written to stays.</summary>
    [Fact]
    public void PeersLeftWithoutAddressesAreSweptAfterTheRetention()
    {
        var stale = Enumerable.Range(0, 50).Select(_ => NewPeer()).ToList();
        foreach (var peer in stale) Store.AddAddresses(peer, [Addr("/ip4/10.0.0.1/tcp/4001")], TimeSpan.FromMinutes(10));
        var kept = NewPeer();
        Store.AddAddresses(kept, [Addr("/ip4/10.0.0.2/tcp/4001")], TimeSpan.FromDays(7));
        Clock.Advance(TimeSpan.FromDays(2));
        var fresh = NewPeer();
        Store.SetProtocols(fresh, ["/x/1"]); // a write: the sweep runs at most once per interval, on writes
        Assert.Equal(new HashSet<PeerId> { kept, fresh }, Store.Peers.ToHashSet());
    }

    [Fact]
    public void PeersListsEveryPeerTouched()
    {
        var a = NewPeer();
        var b = NewPeer();
        var c = NewPeer();
        Store.AddAddresses(a, [Addr("/ip4/10.0.0.1/tcp/1")], TimeSpan.FromMinutes(1));
        Store.SetProtocols(b, ["/x/1"]);
        Store.RecordLatency(c, TimeSpan.FromMilliseconds(1));
        Assert.Equal(new HashSet<PeerId> { a, b, c }, Store.Peers.ToHashSet());
    }
}

public sealed class InMemoryPeerStoreContractTests : PeerStoreContract
{
    protected override IPeerStore CreateStore(TimeProvider time, int maxPeers = PeerStoreDefaults.MaxPeers) =>
        new Host.InMemoryPeerStore(time, maxPeers);
}
