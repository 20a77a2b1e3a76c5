using P2PStack.Addressing;
using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Sqlite.Tests.TestData;

namespace P2PStack.Protocols.Kademlia.Sqlite.Tests;

/// <summary>What every <see cref="IProviderStore"/> does; run against the in-memory and the SQLite store.</summary>
public abstract class ProviderStoreContract : IDisposable
{
    private static readonly Multiaddr A1 = Multiaddr.Parse("/ip4/1.2.3.4/tcp/4001");
    private static readonly Multiaddr A2 = Multiaddr.Parse("/ip6/::1/udp/4001/quic-v1");
    private static readonly Multiaddr A3 = Multiaddr.Parse("/dns4/example.com/tcp/443/wss");

    protected abstract IProviderStore CreateStore(ProviderStoreLimits limits);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    [Fact]
    public async Task ProvidersComeBackNewestFirstWithTheirAddresses()
    {
        var store = CreateStore(new ProviderStoreLimits());
        byte[] key = ProviderKey(1);
        var p1 = RandomPeer();
        var p2 = RandomPeer();
        Assert.Empty(await store.GetProvidersAsync(key, T0, default));
        await store.AddProviderAsync(key, new ProviderRecord(p1, [A1, A2, A3], T0), default);
        await store.AddProviderAsync(key, new ProviderRecord(p2, [], T0.AddMinutes(1)), default);
        var providers = await store.GetProvidersAsync(key, T0, default);
        Assert.Equal([p2, p1], providers.Select(p => p.Provider));
        Assert.Equal([A1, A2, A3], providers[1].Addresses);
        Assert.Empty(providers[0].Addresses);
        Assert.Equal(T0.AddMinutes(1), providers[0].ReceivedAt);
        Assert.Empty(await store.GetProvidersAsync(ProviderKey(2), T0, default));
    }

    [Fact]
    public async Task ARepeatedAnnouncementRefreshesInsteadOfDuplicating()
    {
        var store = CreateStore(new ProviderStoreLimits());
        byte[] key = ProviderKey(1);
        var p1 = RandomPeer();
        await store.AddProviderAsync(key, new ProviderRecord(p1, [A1], T0), default);
        await store.AddProviderAsync(key, new ProviderRecord(p1, [A2], T0.AddHours(1)), default);
        var only = Assert.Single(await store.GetProvidersAsync(key, T0, default));
        Assert.Equal([A2], only.Addresses);
        Assert.Equal(T0.AddHours(1), only.ReceivedAt);
    }

    [Fact]
    public async Task LimitsEvictTheYoungestAndRefuseBadKeys()
    {
        var store = CreateStore(new ProviderStoreLimits { MaxProvidersPerKey = 2, MaxKeys = 1, MaxAddressesPerProvider = 1 });
        byte[] key = ProviderKey(1);
        var p1 = RandomPeer();
        var p2 = RandomPeer();
        var p3 = RandomPeer();
        await store.AddProviderAsync(key, new ProviderRecord(p1, [A1, A2], T0), default);
        await store.AddProviderAsync(key, new ProviderRecord(p2, [A1], T0.AddMinutes(1)), default);
        await store.AddProviderAsync(key, new ProviderRecord(p3, [A1], T0.AddMinutes(2)), default); // evicts p2, first seen last
        var providers = await store.GetProvidersAsync(key, T0, default);
        Assert.Equal([p3, p1], providers.Select(p => p.Provider));
        Assert.All(providers, p => Assert.Single(p.Addresses));
        Assert.Equal([p3], (await store.GetProvidersAsync(key, T0.AddMinutes(2), default)).Select(p => p.Provider));
        // Refreshing a known provider at the per-key limit evicts nobody, and keeps its first announcement's age.
        await store.AddProviderAsync(key, new ProviderRecord(p1, [A1], T0.AddMinutes(3)), default);
        Assert.Equal([p1, p3], (await store.GetProvidersAsync(key, T0, default)).Select(p => p.Provider));
        await store.AddProviderAsync(key, new ProviderRecord(p2, [A1], T0.AddMinutes(4)), default); // evicts p3 again, not p1
        Assert.Equal([p2, p1], (await store.GetProvidersAsync(key, T0, default)).Select(p => p.Provider));

        var full = await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.AddProviderAsync(ProviderKey(2), new ProviderRecord(p1, [A1], T0), default).AsTask());
        Assert.Contains("1 keys", full.Message);
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.AddProviderAsync(new byte[81], new ProviderRecord(p1, [A1], T0), default).AsTask());
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.AddProviderAsync(Array.Empty<byte>(), new ProviderRecord(p1, [A1], T0), default).AsTask());
    }

    /// <summary>Attack path 7: 64 sybils announcing a key after its honest providers must not push them out (the old
    /// policy dropped the oldest announcement, i.e. exactly the long-lived providers).</summary>
    [Fact]
    public async Task SybilsCannotPushOutLongLivedProviders()
    {
        var store = CreateStore(new ProviderStoreLimits());
        byte[] key = ProviderKey(1);
        var honest = Enumerable.Range(0, 4).Select(_ => RandomPeer()).ToList();
        foreach (var peer in honest) await store.AddProviderAsync(key, new ProviderRecord(peer, [A1], T0), default);
        for (int i = 0; i < 3 * 64; i++)
            await store.AddProviderAsync(key, new ProviderRecord(RandomPeer(), [A1], T0.AddMinutes(1 + i)), default);
        var providers = (await store.GetProvidersAsync(key, T0, default)).Select(p => p.Provider).ToList();
        Assert.Equal(64, providers.Count);
        Assert.All(honest, peer => Assert.Contains(peer, providers));
    }

    [Fact]
    public async Task ExpiryRemovesOldAnnouncementsAndFreesTheirKeys()
    {
        var store = CreateStore(new ProviderStoreLimits { MaxKeys = 1 });
        byte[] key = ProviderKey(1);
        var p1 = RandomPeer();
        var p2 = RandomPeer();
        await store.AddProviderAsync(key, new ProviderRecord(p1, [A1], T0), default);
        await store.AddProviderAsync(key, new ProviderRecord(p2, [A1], T0.AddMinutes(2)), default);
        Assert.Equal(1, await store.RemoveExpiredAsync(T0.AddMinutes(2), default));
        Assert.Equal([p2], (await store.GetProvidersAsync(key, T0, default)).Select(p => p.Provider));
        Assert.Equal(1, await store.RemoveExpiredAsync(T0.AddMinutes(3), default));
        Assert.Empty(await store.GetProvidersAsync(key, T0, default));
        // The key is gone, so another key fits now.
        await store.AddProviderAsync(ProviderKey(2), new ProviderRecord(p1, [A1], T0), default);
    }

    [Fact]
    public async Task OneProviderCannotAnnounceMoreKeysThanItsQuota()
    {
        var store = CreateStore(new ProviderStoreLimits { MaxKeysPerProvider = 2, MaxProvidersPerKey = 1 });
        var flooder = RandomPeer();
        var honest = RandomPeer();
        await store.AddProviderAsync(ProviderKey(1), new ProviderRecord(flooder, [A1], T0), default);
        await store.AddProviderAsync(ProviderKey(2), new ProviderRecord(flooder, [A1], T0), default);
        var refused = await Assert.ThrowsAsync<DhtStoreLimitException>(() =>
            store.AddProviderAsync(ProviderKey(3), new ProviderRecord(flooder, [A1], T0), default).AsTask());
        Assert.Contains("limit per provider", refused.Message);
        Assert.Empty(await store.GetProvidersAsync(ProviderKey(3), T0, default));

        // Refreshing a key it holds is fine, and other providers are unaffected.
        await store.AddProviderAsync(ProviderKey(1), new ProviderRecord(flooder, [A2], T0.AddMinutes(1)), default);
        await store.AddProviderAsync(ProviderKey(3), new ProviderRecord(honest, [A1], T0), default);

        // Losing a key (here evicted by a newer provider of it, at one provider per key) frees a slot of its quota.
        await store.AddProviderAsync(ProviderKey(2), new ProviderRecord(honest, [A1], T0.AddMinutes(2)), default);
        await store.AddProviderAsync(ProviderKey(4), new ProviderRecord(flooder, [A1], T0.AddMinutes(2)), default);
        Assert.Equal([flooder], (await store.GetProvidersAsync(ProviderKey(4), T0, default)).Select(p => p.Provider));
    }
}

public sealed class InMemoryProviderStoreContractTests : ProviderStoreContract
{
    protected override IProviderStore CreateStore(ProviderStoreLimits limits) => new InMemoryProviderStore(limits);
}

public sealed class SqliteProviderStoreContractTests : ProviderStoreContract
{
    private readonly string _path = TempDatabase();
    private KademliaSqliteDatabase? _db;

    protected override IProviderStore CreateStore(ProviderStoreLimits limits)
    {
        _db ??= new KademliaSqliteDatabase(_path);
        return new SqliteProviderStore(_db, limits);
    }

    public override void Dispose()
    {
        _db?.Dispose();
        DeleteDatabase(_path);
        base.Dispose();
    }
}
