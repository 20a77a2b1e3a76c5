using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Sqlite.Tests.TestData;

namespace P2PStack.Protocols.Kademlia.Sqlite.Tests;

/// <summary>The SQLite record and provider stores reserve what they hold in the resource manager's
/// <c>service kademlia</c> scope, as the in-memory stores do: a refusal is typed and changes nothing (in the file
/// too), the scope returns to zero as records are replaced, removed, expire or are pushed out, and a reopened file is
/// reserved again, trimmed to the scope's room.</summary>
public sealed class SqliteStoreMemoryTests : IDisposable
{
    private static readonly Multiaddr Address = Multiaddr.Parse("/ip4/203.0.113.7/tcp/4001");
    private readonly string _path = TempDatabase();

    public void Dispose() => DeleteDatabase(_path);

    private static (ResourceManager Manager, IResourceScope Scope) Limited(long memory)
    {
        var manager = new ResourceManager(ResourceLimits.Unlimited with
        {
            Services = new Dictionary<string, ResourceLimit> { [KademliaDht.ResourceService] = new() { Memory = memory } },
        });
        return (manager, manager.Service(KademliaDht.ResourceService));
    }

    private static DhtRecord Record(string key, int valueBytes, PeerId? publisher, DateTimeOffset? at = null) =>
        new(System.Text.Encoding.ASCII.GetBytes(key), new byte[valueBytes], at ?? T0, publisher);

    [Fact]
    public async Task Records_reserve_their_bytes_refusals_are_typed_and_everything_is_returned()
    {
        long one = InMemoryRecordStore.Footprint(Record("/v/a", 1000, null));
        var (manager, scope) = Limited(3 * one);
        using var _ = manager;
        using var db = new KademliaSqliteDatabase(_path);
        var store = new SqliteRecordStore(db, new RecordStoreLimits(), scope);

        var remote = RandomPeer();
        for (int i = 0; i < 3; i++) await store.PutAsync(Record($"/v/{i}", 1000, remote), default);
        Assert.Equal(3 * one, scope.Usage.Memory);
        var refusal = await Assert.ThrowsAsync<ResourceLimitExceededException>(() => store.PutAsync(Record("/v/3", 1000, remote), default).AsTask());
        Assert.Contains("service kademlia", refusal.Message, StringComparison.Ordinal);
        Assert.Equal(3, await store.CountAsync(default));
        Assert.Null(await store.GetAsync("/v/3"u8.ToArray(), default)); // nothing written
        Assert.Equal(1, manager.Snapshot().Single(s => s.Name == "service kademlia").Refusals);

        // Our own record makes room from a remote peer's (as the count and byte limits do).
        await store.PutAsync(Record("/v/o", 1000, null), default);
        Assert.Equal(3, await store.CountAsync(default));
        Assert.Equal(3 * one, scope.Usage.Memory);

        // Replacing with a smaller value returns the difference; removal and expiry return the rest.
        await store.PutAsync(Record("/v/o", 10, null), default);
        Assert.Equal(3 * one - 990, scope.Usage.Memory);
        Assert.Equal(3 * one - 990, store.ReservedBytes);
        Assert.True(await store.RemoveAsync("/v/o"u8.ToArray(), default));
        Assert.Equal(2, await store.RemoveExpiredAsync(T0.AddSeconds(1), default));
        Assert.Equal(0, scope.Usage.Memory);
        Assert.Equal(0, manager.System.Usage.Memory);
    }

    [Fact]
    public async Task Provider_announcements_reserve_their_bytes_and_eviction_and_expiry_return_them()
    {
        var (manager, scope) = Limited(long.MaxValue);
        using var _ = manager;
        using var db = new KademliaSqliteDatabase(_path);
        var probe = new SqliteProviderStore(db, new ProviderStoreLimits(), scope);
        await probe.AddProviderAsync(ProviderKey(9), new ProviderRecord(RandomPeer(), [Address], T0), default);
        long one = scope.Usage.Memory; // one announcement: key, provider, address list and the entry overhead
        Assert.True(one > InMemoryProviderStore.EntryOverhead);
        Assert.Equal(1, await probe.RemoveExpiredAsync(T0.AddSeconds(1), default));
        Assert.Equal(0, scope.Usage.Memory);

        var (limitedManager, limited) = Limited(4 * one);
        using var __ = limitedManager;
        var store = new SqliteProviderStore(db, new ProviderStoreLimits { MaxProvidersPerKey = 2 }, limited);
        var key = ProviderKey(1);
        await store.AddProviderAsync(key, new ProviderRecord(RandomPeer(), [Address], T0), default);
        await store.AddProviderAsync(key, new ProviderRecord(RandomPeer(), [Address], T0.AddSeconds(1)), default);
        // A third provider pushes out the youngest: the count stays at two and so does the memory.
        await store.AddProviderAsync(key, new ProviderRecord(RandomPeer(), [Address], T0.AddSeconds(2)), default);
        Assert.Equal(2 * one, limited.Usage.Memory);

        // Another key fills the scope; then an announcement is refused, typed, and nothing changes.
        var other = ProviderKey(2);
        var provider = RandomPeer();
        await store.AddProviderAsync(other, new ProviderRecord(provider, [Address], T0), default);
        await store.AddProviderAsync(other, new ProviderRecord(RandomPeer(), [Address], T0), default);
        var third = ProviderKey(3);
        await Assert.ThrowsAsync<ResourceLimitExceededException>(() =>
            store.AddProviderAsync(third, new ProviderRecord(RandomPeer(), [Address], T0), default).AsTask());
        Assert.Empty(await store.GetProvidersAsync(third, DateTimeOffset.MinValue, default));
        Assert.Equal(4 * one, limited.Usage.Memory);

        // A refresh with more addresses needs more: refused, the old announcement stays.
        await Assert.ThrowsAsync<ResourceLimitExceededException>(() => store.AddProviderAsync(other,
            new ProviderRecord(provider, [Address, Multiaddr.Parse("/ip4/203.0.113.8/tcp/4001")], T0.AddSeconds(5)), default).AsTask());
        Assert.Equal(T0, (await store.GetProvidersAsync(other, DateTimeOffset.MinValue, default)).Single(r => r.Provider == provider).ReceivedAt);

        Assert.Equal(4, await store.RemoveExpiredAsync(T0.AddHours(1), default));
        Assert.Equal(0, limited.Usage.Memory);
    }

    [Fact]
    public async Task A_reopened_file_is_reserved_and_trimmed_to_the_scopes_room()
    {
        long one = InMemoryRecordStore.Footprint(Record("/v/00", 1000, null));
        using (var db = new KademliaSqliteDatabase(_path))
        {
            var unlimited = new SqliteRecordStore(db, new RecordStoreLimits());
            for (int i = 0; i < 20; i++) await unlimited.PutAsync(Record($"/v/{i:D2}", 1000, RandomPeer(), T0.AddSeconds(i)), default);
        }

        var (manager, scope) = Limited(10 * one);
        using var _ = manager;
        using (var db = new KademliaSqliteDatabase(_path))
        {
            var store = new SqliteRecordStore(db, new RecordStoreLimits(), scope);
            int held = await store.CountAsync(default);
            Assert.InRange(held, 1, 10);
            Assert.Equal(held * one, scope.Usage.Memory);
            Assert.NotNull(await store.GetAsync("/v/19"u8.ToArray(), default)); // the newest stay
            Assert.Null(await store.GetAsync("/v/00"u8.ToArray(), default));
        }
    }

    [Fact]
    public async Task The_nodes_sqlite_stores_count_in_the_service_kademlia_scope()
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p => p2p.WithIdentity(PrivateKey.Generate(KeyType.Ed25519)).AddKademlia().AddKademliaSqliteStores(_path));
        using var provider = services.BuildServiceProvider();
        var records = provider.GetRequiredService<IDhtRecordStore>();
        var providers = provider.GetRequiredService<IProviderStore>();
        var manager = provider.GetRequiredService<IResourceManager>();
        var record = Record("/v/a", 100, RandomPeer());
        await records.PutAsync(record, default);
        var scope = manager.Snapshot().Single(s => s.Kind == "service" && s.Name == "service kademlia");
        Assert.Equal(InMemoryRecordStore.Footprint(record), scope.Usage.Memory);
        await providers.AddProviderAsync(ProviderKey(1), new ProviderRecord(RandomPeer(), [Address], T0), default);
        Assert.True(manager.Service(KademliaDht.ResourceService).Usage.Memory > InMemoryRecordStore.Footprint(record));

        Assert.True(await records.RemoveAsync(record.Key, default));
        Assert.Equal(1, await providers.RemoveExpiredAsync(T0.AddSeconds(1), default));
        Assert.Equal(0, manager.Service(KademliaDht.ResourceService).Usage.Memory);
    }
}
