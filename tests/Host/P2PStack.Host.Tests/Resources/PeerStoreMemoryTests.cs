using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host.Tests;

/// <summary>The host's in-memory peer store reserves each peer it holds in the resource manager's
/// <c>service peerstore</c> scope: under pressure it forgets its least recently updated peers, past that it keeps
/// nothing more (never throws at its callers), and removing peers returns the scope to zero.</summary>
public sealed class PeerStoreMemoryTests
{
    private static readonly Multiaddr Address = Multiaddr.Parse("/ip4/203.0.113.9/tcp/4001");

    private static PeerId NewPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    [Fact]
    public void Peers_reserve_their_entry_and_the_store_stays_within_the_scope()
    {
        var probe = new InMemoryPeerStore();
        using var limited = new ResourceManager(ResourceLimits.Unlimited with
        {
            Services = new Dictionary<string, ResourceLimit> { [InMemoryPeerStore.ResourceService] = new() { Memory = 20 * probe.EntryBytes } },
        });
        var limitedScope = limited.Service(InMemoryPeerStore.ResourceService);
        var store = new InMemoryPeerStore(memory: limitedScope);

        var peers = Enumerable.Range(0, 50).Select(_ => NewPeer()).ToList();
        foreach (var peer in peers) store.AddAddresses(peer, [Address], TimeSpan.FromHours(1));

        // Never more than the scope allows; the newest peers are the ones kept (older ones made room).
        Assert.InRange(store.Peers.Count, 1, 20);
        Assert.Equal(store.Peers.Count * store.EntryBytes, limitedScope.Usage.Memory);
        Assert.Contains(peers[^1], store.Peers);
        Assert.Equal([Address], store.GetAddresses(peers[^1]));
        Assert.True(limited.Snapshot().Single(s => s.Name == "service peerstore").Refusals > 0);

        // Updating a peer already held costs nothing more.
        store.AddAddresses(peers[^1], [Multiaddr.Parse("/ip4/203.0.113.10/tcp/4001")], TimeSpan.FromHours(1));
        Assert.Equal(store.Peers.Count * store.EntryBytes, limitedScope.Usage.Memory);

        foreach (var peer in store.Peers) store.RemovePeer(peer);
        Assert.Equal(0, limitedScope.Usage.Memory);
        Assert.Equal(0, limited.System.Usage.Memory);
    }

    [Fact]
    public void The_hosts_peer_store_counts_in_the_service_peerstore_scope()
    {
        var services = new ServiceCollection();
        services.AddP2PStack(_ => { });
        using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IPeerStore>();
        var manager = provider.GetRequiredService<IResourceManager>();
        var peer = NewPeer();
        store.AddAddresses(peer, [Address], TimeSpan.FromHours(1));
        var scope = manager.Snapshot().Single(s => s.Kind == "service" && s.Name == "service peerstore");
        Assert.Equal(((InMemoryPeerStore)store).EntryBytes, scope.Usage.Memory);
        store.RemovePeer(peer);
        Assert.Equal(0, manager.Service(InMemoryPeerStore.ResourceService).Usage.Memory);
    }
}
