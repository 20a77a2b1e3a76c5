using P2PStack.Addressing;
using P2PStack.Protocols.Kademlia.Storage;

namespace P2PStack.Protocols.Kademlia.Tests;

public class StoreTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task RecordStoreEnforcesCountAndSizeLimits()
    {
        var store = new InMemoryRecordStore(new RecordStoreLimits { MaxRecords = 2, MaxKeyLength = 8, MaxValueLength = 10, MaxTotalBytes = 25 });
        await store.PutAsync(new DhtRecord("/a/1"u8.ToArray(), new byte[10], T0), default);
        await store.PutAsync(new DhtRecord("/a/2"u8.ToArray(), new byte[5], T0), default);
        // Replacing an existing key is allowed at the count limit.
        await store.PutAsync(new DhtRecord("/a/2"u8.ToArray(), new byte[6], T0), default);
        Assert.Equal(24, store.TotalBytes);
        var full = await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(new DhtRecord("/a/3"u8.ToArray(), [1], T0), default).AsTask());
        Assert.Contains("2 records", full.Message);
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(new DhtRecord("/a/123456"u8.ToArray(), [1], T0), default).AsTask());
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(new DhtRecord("/a/1"u8.ToArray(), new byte[11], T0), default).AsTask());
        var bytes = await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(new DhtRecord("/a/2"u8.ToArray(), new byte[10], T0), default).AsTask());
        Assert.Contains("bytes", bytes.Message);
        Assert.True(await store.RemoveAsync("/a/1"u8.ToArray(), default));
        Assert.Equal(10, store.TotalBytes);
    }

    [Fact]
    public async Task RecordStoreRemovesExpiredRecords()
    {
        var store = new InMemoryRecordStore();
        await store.PutAsync(new DhtRecord("/a/old"u8.ToArray(), [1], T0), default);
        await store.PutAsync(new DhtRecord("/a/new"u8.ToArray(), [2], T0.AddHours(47)), default);
        Assert.Equal(1, await store.RemoveExpiredAsync(T0.AddHours(1), default));
        Assert.Null(await store.GetAsync("/a/old"u8.ToArray(), default));
        Assert.Equal([2], (await store.GetAsync("/a/new"u8.ToArray(), default))!.Value);
    }

    [Fact]
    public async Task ProviderStoreKeepsLongLivedProvidersAndExpiresOld()
    {
        var store = new InMemoryProviderStore(new ProviderStoreLimits { MaxProvidersPerKey = 2, MaxKeys = 1, MaxAddressesPerProvider = 1 });
        byte[] key = [0x12, 0x20, .. new byte[32]];
        var address = Multiaddr.Parse("/ip4/1.2.3.4/tcp/4001");
        var p1 = TestPeers.Random();
        var p2 = TestPeers.Random();
        var p3 = TestPeers.Random();
        await store.AddProviderAsync(key, new ProviderRecord(p1, [address, address], T0), default);
        await store.AddProviderAsync(key, new ProviderRecord(p2, [address], T0.AddMinutes(1)), default);
        await store.AddProviderAsync(key, new ProviderRecord(p3, [address], T0.AddMinutes(2)), default); // evicts p2, the youngest
        var providers = await store.GetProvidersAsync(key, T0, default);
        Assert.Equal([p3, p1], providers.Select(p => p.Provider));
        Assert.All(providers, p => Assert.Single(p.Addresses));
        Assert.Equal([p3], (await store.GetProvidersAsync(key, T0.AddMinutes(2), default)).Select(p => p.Provider));

        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.AddProviderAsync(new byte[] { 1, 2 }, new ProviderRecord(p1, [address], T0), default).AsTask());
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.AddProviderAsync(new byte[81], new ProviderRecord(p1, [address], T0), default).AsTask());

        Assert.Equal(1, await store.RemoveExpiredAsync(T0.AddMinutes(2), default));
        Assert.Equal(1, await store.RemoveExpiredAsync(T0.AddMinutes(3), default));
        Assert.Empty(await store.GetProvidersAsync(key, T0, default));
        // The key is gone, so another key fits now.
        await store.AddProviderAsync(new byte[] { 1, 2 }, new ProviderRecord(p1, [address], T0), default);
    }
}
