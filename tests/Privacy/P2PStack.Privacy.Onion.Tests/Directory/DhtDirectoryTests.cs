using P2PStack.Addressing;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.Onion.Tests.Directory;

/// <summary>Relays publish their descriptors in the DHT (a record under /onion-relay/&lt;id&gt; and a provider record
/// under an index shard); a client that knows nothing else finds them all and builds a circuit.</summary>
public class DhtDirectoryTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task A_client_finds_every_relay_through_the_dht_and_builds_a_circuit()
    {
        var memory = new MemoryNetwork(5);
        var nodes = new List<OnionNode>();
        try
        {
            var seed = await StartAsync(memory, [], relay: true);
            nodes.Add(seed);
            var bootstrap = new List<Multiaddr> { seed.Address };
            for (int i = 0; i < 4; i++) nodes.Add(await StartAsync(memory, bootstrap, relay: true));
            var destination = await StartAsync(memory, bootstrap, relay: false, client: false);
            var client = await StartAsync(memory, bootstrap, relay: false);
            nodes.Add(destination);
            nodes.Add(client);
            foreach (var node in nodes) await node.Get<KademliaHostedService>().Bootstrap.WaitAsync(Patience);
            var relays = nodes.Take(5).ToList();
            foreach (var relay in relays) Assert.True(await relay.Get<OnionHostedService>().PublishDescriptorAsync(CancellationToken.None).WaitAsync(Patience) >= 0);

            int found = await client.Client.Directory.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(5, found);
            Assert.Equal(relays.Select(r => r.PeerId).Order(), client.Client.Directory.Relays.Select(r => r.Peer).Order());

            client.Host.PeerStore.AddAddresses(destination.PeerId, [destination.Address.DecapsulateCode(MultiaddrProtocols.P2P.Code)], TimeSpan.FromHours(1));
            var onion = await client.Client.ConnectAsync(destination.PeerId).WaitAsync(Patience);
            await Faults.FaultTests.PingAsync(client, onion.Connection);
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_wait_for_a_path_asks_the_directory_for_a_refresh_at_once()
    {
        var memory = new MemoryNetwork(5);
        var nodes = new List<OnionNode>();
        try
        {
            var seed = await StartAsync(memory, [], relay: false, client: false);
            nodes.Add(seed);
            var bootstrap = new List<Multiaddr> { seed.Address };
            // A fresh client: its first refresh finds no relay (there is none yet), and its next scheduled one is an hour
            // away (SparseRefreshInterval), so only a requested refresh can bring relays within the test.
            var client = await StartAsync(memory, bootstrap, relay: false);
            nodes.Add(client);
            await client.Get<KademliaHostedService>().Bootstrap.WaitAsync(Patience);
            await client.Get<OnionHostedService>().FirstRefresh.WaitAsync(Patience);
            Assert.Empty(client.Client.Directory.Relays);

            var relays = new List<OnionNode>();
            for (int i = 0; i < 4; i++) relays.Add(await StartAsync(memory, bootstrap, relay: true));
            nodes.AddRange(relays);
            foreach (var relay in relays) await relay.Get<KademliaHostedService>().Bootstrap.WaitAsync(Patience);
            foreach (var relay in relays) await relay.Get<OnionHostedService>().PublishDescriptorAsync(CancellationToken.None).WaitAsync(Patience);

            await client.Client.WaitForPathAsync(new CircuitRequest(), Patience, CancellationToken.None).WaitAsync(Patience + Patience);
            Assert.True(client.Client.Directory.Relays.Count >= 3, $"{client.Client.Directory.Relays.Count} relays");
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    private static Task<OnionNode> StartAsync(MemoryNetwork memory, IReadOnlyList<Multiaddr> bootstrap, bool relay, bool client = true) =>
        OnionNode.StartAsync("/memory/0", memory, o =>
        {
            o.Relay.Enabled = relay;
            o.EnableClient = client;
            o.Directory.RefreshInterval = TimeSpan.FromHours(1);
            o.Directory.SparseRefreshInterval = TimeSpan.FromHours(1);
        }, p2p => p2p.AddKademlia(o =>
        {
            o.BootstrapPeers.AddRange(bootstrap);
        }));
}
