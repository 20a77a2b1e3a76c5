using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.PeerStore.Sqlite.Tests;

/// <summary>The SQLite peer store reserves each peer it holds in the resource manager's <c>service peerstore</c>
/// scope, as the in-memory store does: under pressure it forgets its least recently written peers, past that it keeps
/// nothing more (never throws at its callers); at open it reserves what the file holds and forgets what does not fit;
/// removing peers and disposing return the scope to zero.</summary>
public sealed class SqlitePeerStoreMemoryTests : IDisposable
{
    private static readonly Multiaddr Address = Multiaddr.Parse("/ip4/203.0.113.9/tcp/4001");
    private readonly TempDirectory _directory = new();

    private string DatabasePath => Path.Combine(_directory.Path, "peers.db");

    public void Dispose() => _directory.Dispose();

    private static PeerId NewPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    private static long EntryBytes => new SqlitePeerStoreOptions().MaxAddressesPerPeer * 96L + 1024;

    private static ResourceManager Limited(int entries) => new(ResourceLimits.Unlimited with
    {
        Services = new Dictionary<string, ResourceLimit> { [SqlitePeerStore.ResourceService] = new() { Memory = entries * EntryBytes } },
    });

    [Fact]
    public void Peers_reserve_their_entry_and_the_store_stays_within_the_scope()
    {
        using var manager = Limited(20);
        var scope = manager.Service(SqlitePeerStore.ResourceService);
        var peers = Enumerable.Range(0, 50).Select(_ => NewPeer()).ToList();
        using (var store = new SqlitePeerStore(new SqlitePeerStoreOptions { Path = DatabasePath }, scope))
        {
            Assert.Equal(EntryBytes, store.EntryBytes);
            foreach (var peer in peers) store.AddAddresses(peer, [Address], TimeSpan.FromHours(1));

            // Never more than the scope allows; the newest peer is kept (older ones made room).
            Assert.InRange(store.Peers.Count, 1, 20);
            Assert.Equal(store.Peers.Count * store.EntryBytes, scope.Usage.Memory);
            Assert.Contains(peers[^1], store.Peers);
            Assert.Equal([Address], store.GetAddresses(peers[^1]));
            Assert.True(manager.Snapshot().Single(s => s.Name == "service peerstore").Refusals > 0);

            // Writing about a peer already held costs nothing more.
            store.SetProtocols(peers[^1], ["/ipfs/ping/1.0.0"]);
            store.RecordLatency(peers[^1], TimeSpan.FromMilliseconds(3));
            Assert.Equal(store.Peers.Count * store.EntryBytes, scope.Usage.Memory);

            foreach (var peer in store.Peers.Take(5).ToList()) store.RemovePeer(peer);
            Assert.Equal(store.Peers.Count * store.EntryBytes, scope.Usage.Memory);
        }
        Assert.Equal(0, scope.Usage.Memory); // disposed: everything returned
        Assert.Equal(0, manager.System.Usage.Memory);
    }

    [Fact]
    public void A_new_peer_the_scope_refuses_outright_is_not_kept()
    {
        using var manager = Limited(0);
        var scope = manager.Service(SqlitePeerStore.ResourceService);
        using var store = new SqlitePeerStore(new SqlitePeerStoreOptions { Path = DatabasePath }, scope);
        var peer = NewPeer();
        store.AddAddresses(peer, [Address], TimeSpan.FromHours(1));
        store.SetMetadata(peer, "agent", "x");
        Assert.Empty(store.Peers);
        Assert.Empty(store.GetAddresses(peer));
        Assert.Null(store.GetMetadata(peer, "agent"));
        Assert.Equal(0, scope.Usage.Memory);
    }

    [Fact]
    public void At_open_the_file_is_reserved_and_what_does_not_fit_is_forgotten()
    {
        var peers = Enumerable.Range(0, 30).Select(_ => NewPeer()).ToList();
        using (var unlimited = new SqlitePeerStore(new SqlitePeerStoreOptions { Path = DatabasePath }))
        {
            foreach (var peer in peers) unlimited.AddAddresses(peer, [Address], TimeSpan.FromHours(1));
        }

        using var manager = Limited(10);
        var scope = manager.Service(SqlitePeerStore.ResourceService);
        using var store = new SqlitePeerStore(new SqlitePeerStoreOptions { Path = DatabasePath }, scope);
        Assert.Equal(10, store.Peers.Count);
        Assert.Equal(10 * EntryBytes, scope.Usage.Memory);
        Assert.Equal(peers.TakeLast(10).ToHashSet(), store.Peers.ToHashSet()); // the least recently written went
    }

    [Fact]
    public void The_nodes_sqlite_peer_store_counts_in_the_service_peerstore_scope()
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p => p2p.AddSqlitePeerStore(DatabasePath));
        using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IPeerStore>();
        var manager = provider.GetRequiredService<IResourceManager>();
        var peer = NewPeer();
        store.AddAddresses(peer, [Address], TimeSpan.FromHours(1));
        ((SqlitePeerStore)store).Flush(); // writes are deferred; a peer reserves when its write is applied
        var scope = manager.Snapshot().Single(s => s.Kind == "service" && s.Name == "service peerstore");
        Assert.Equal(((SqlitePeerStore)store).EntryBytes, scope.Usage.Memory);
        store.RemovePeer(peer);
        ((SqlitePeerStore)store).Flush();
        Assert.Equal(0, manager.Service(SqlitePeerStore.ResourceService).Usage.Memory);
    }
}
