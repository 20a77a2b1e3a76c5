using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia.Storage;

namespace P2PStack.Protocols.Kademlia.Tests;

/// <summary>The in-memory record and provider stores reserve what they hold in the resource manager's
/// <c>service kademlia</c> scope: a refusal is typed and changes nothing, and the scope returns to zero as records
/// are replaced, removed, expire or are pushed out.</summary>
public sealed class StoreMemoryTests
{
    private static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static (ResourceManager Manager, IResourceScope Scope) Limited(long memory)
    {
        var manager = new ResourceManager(ResourceLimits.Unlimited with
        {
            Services = new Dictionary<string, ResourceLimit> { [KademliaDht.ResourceService] = new() { Memory = memory } },
        });
        return (manager, manager.Service(KademliaDht.ResourceService));
    }

    private static PeerId Peer(int i) => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    [Fact]
    public async Task Records_reserve_their_bytes_refusals_are_typed_and_everything_is_returned()
    {
        var record = new DhtRecord("/v/a"u8.ToArray(), new byte[1000], T0, Peer(0));
        long one = InMemoryRecordStore.Footprint(record);
        var (manager, scope) = Limited(3 * one);
        using var _ = manager;
        var store = new InMemoryRecordStore(new RecordStoreLimits(), scope);

        var remote = Peer(1);
        for (int i = 0; i < 3; i++)
            await store.PutAsync(new DhtRecord(System.Text.Encoding.ASCII.GetBytes($"/v/{i}"), new byte[1000], T0, remote), default);
        Assert.Equal(3 * one, scope.Usage.Memory);
        var refusal = await Assert.ThrowsAsync<ResourceLimitExceededException>(() =>
            store.PutAsync(new DhtRecord("/v/3"u8.ToArray(), new byte[1000], T0, remote), default).AsTask());
        Assert.Contains("service kademlia", refusal.Message, StringComparison.Ordinal);
        Assert.Equal(3, await store.CountAsync(default));
        Assert.Equal(1, manager.Snapshot().Single(s => s.Name == "service kademlia").Refusals);

        // Our own record makes room from a remote peer's (as the count and byte limits do).
        await store.PutAsync(new DhtRecord("/v/o"u8.ToArray(), new byte[1000], T0), default);
        Assert.Equal(3, await store.CountAsync(default));
        Assert.Equal(3 * one, scope.Usage.Memory);

        // Replacing with a smaller value returns the difference; removal and expiry return the rest.
        await store.PutAsync(new DhtRecord("/v/o"u8.ToArray(), new byte[10], T0), default);
        Assert.Equal(2 * one + one - 990, scope.Usage.Memory);
        Assert.True(await store.RemoveAsync("/v/o"u8.ToArray(), default));
        Assert.Equal(2, await store.RemoveExpiredAsync(T0.AddSeconds(1), default));
        Assert.Equal(0, scope.Usage.Memory);
        Assert.Equal(0, manager.System.Usage.Memory);
    }

    [Fact]
    public async Task Provider_announcements_reserve_their_bytes_and_eviction_and_expiry_return_them()
    {
        var key = new byte[34];
        var address = Multiaddr.Parse("/ip4/203.0.113.7/tcp/4001");
        var first = new ProviderRecord(Peer(0), [address], T0);
        long one = InMemoryProviderStore.Footprint(key, first);
        var (manager, scope) = Limited(4 * one);
        using var _ = manager;
        var store = new InMemoryProviderStore(new ProviderStoreLimits { MaxProvidersPerKey = 2 }, scope);

        await store.AddProviderAsync(key, first, default);
        await store.AddProviderAsync(key, new ProviderRecord(Peer(1), [address], T0.AddSeconds(1)), default);
        // A third provider pushes out the youngest: the count stays at two and so does the memory.
        await store.AddProviderAsync(key, new ProviderRecord(Peer(2), [address], T0.AddSeconds(2)), default);
        Assert.Equal(2 * one, scope.Usage.Memory);

        // Other keys fill the scope; then an announcement is refused, typed, and nothing changes.
        var other = new byte[34];
        other[0] = 1;
        await store.AddProviderAsync(other, new ProviderRecord(Peer(3), [address], T0), default);
        await store.AddProviderAsync(other, new ProviderRecord(Peer(4), [address], T0), default);
        var third = new byte[34];
        third[0] = 2;
        await Assert.ThrowsAsync<ResourceLimitExceededException>(() =>
            store.AddProviderAsync(third, new ProviderRecord(Peer(5), [address], T0), default).AsTask());
        Assert.Empty(await store.GetProvidersAsync(third, DateTimeOffset.MinValue, default));
        Assert.Equal(4 * one, scope.Usage.Memory);

        // A refresh with more addresses needs more: refused, the old announcement stays.
        var provider = (await store.GetProvidersAsync(other, DateTimeOffset.MinValue, default))[0].Provider;
        await Assert.ThrowsAsync<ResourceLimitExceededException>(() => store.AddProviderAsync(other,
            new ProviderRecord(provider, [address, Multiaddr.Parse("/ip4/203.0.113.8/tcp/4001")], T0.AddSeconds(5)), default).AsTask());
        Assert.Equal(T0, (await store.GetProvidersAsync(other, DateTimeOffset.MinValue, default)).Single(r => r.Provider == provider).ReceivedAt);

        Assert.Equal(4, await store.RemoveExpiredAsync(T0.AddHours(1), default));
        Assert.Equal(0, scope.Usage.Memory);
    }
}
