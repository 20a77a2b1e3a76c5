using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Transports.Memory;

namespace P2PStack.Metrics.Tests;

/// <summary>The DHT and gossipsub instruments, read through a container-scoped exporter after real traffic.</summary>
public sealed class ModuleMetricsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private sealed class Node : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        private Node(ServiceProvider services)
        {
            _services = services;
            Exporter = services.GetRequiredService<PrometheusExporter>();
            Host = services.GetRequiredService<PeerHost>();
        }

        public PeerHost Host { get; }

        public PrometheusExporter Exporter { get; }

        public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

        public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

        public Dictionary<string, Family> Scrape() => PrometheusTextParser.Parse(Exporter.Render());

        public static async Task<Node> StartAsync(MemoryNetwork network, Action<IP2PBuilder> modules)
        {
            var services = new ServiceCollection();
            services.AddSingleton(network);
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn("/memory/0").AddMemoryTransport().AddNoise().AddYamux().AddPrometheusExporter();
                modules(p2p);
            });
            var node = new Node(services.BuildServiceProvider());
            await node.Host.StartAsync(CancellationToken.None);
            return node;
        }

        public async ValueTask DisposeAsync()
        {
            if (_services.GetService<KademliaHostedService>() is { } kad) await kad.StopAsync(CancellationToken.None);
            await Host.DisposeAsync();
            await _services.DisposeAsync();
        }
    }

    private static double Value(Dictionary<string, Family> families, string name, params (string Label, string Value)[] labels) =>
        families.TryGetValue(name, out var family)
            ? family.Samples.Where(s => labels.All(l => s.Label(l.Label) == l.Value)).Sum(s => s.Value)
            : 0;

    [Fact]
    public async Task DhtCountsRequestsLookupsAndRoutingTable()
    {
        var network = new MemoryNetwork();
        var nodes = new List<Node>();
        try
        {
            var first = await Node.StartAsync(network, p2p => p2p.AddIdentify().AddKademlia(o => o.RefreshInterval = TimeSpan.Zero));
            nodes.Add(first);
            await first.Get<KademliaHostedService>().StartAsync(CancellationToken.None);
            for (int i = 0; i < 2; i++)
            {
                var node = await Node.StartAsync(network, p2p => p2p.AddIdentify().AddKademlia(o =>
                {
                    o.RefreshInterval = TimeSpan.Zero;
                    o.BootstrapPeers.Add(first.Address);
                }));
                nodes.Add(node);
                var service = node.Get<KademliaHostedService>();
                await service.StartAsync(CancellationToken.None);
                await service.Bootstrap.WaitAsync(Timeout);
            }

            var closest = await nodes[2].Get<KademliaDht>().GetClosestPeersAsync("metrics"u8.ToArray(), CancellationToken.None).WaitAsync(Timeout);
            Assert.NotEmpty(closest);

            var client = nodes[2].Scrape();
            Assert.True(Value(client, "p2pstack_kad_routing_table_peers") >= 1);
            Assert.True(Value(client, "p2pstack_kad_outbound_requests_total", ("type", "find_node"), ("outcome", "ok")) >= 1);
            Assert.True(Value(client, "p2pstack_kad_lookups_total", ("type", "find_node")) >= 2); // bootstrap + ours
            Assert.Equal("histogram", client["p2pstack_kad_lookup_duration_seconds"].Type);
            Assert.Equal(Value(client, "p2pstack_kad_lookups_total", ("type", "find_node")), client["p2pstack_kad_lookup_duration_seconds"].Samples
                .Single(s => s.Name == "p2pstack_kad_lookup_duration_seconds_count" && s.Label("type") == "find_node").Value);
            Assert.Equal(0, Value(client, "p2pstack_kad_stored_records"));
            Assert.True(client.ContainsKey("p2pstack_kad_stored_records"));

            // The first node served the bootstrap lookups of both others.
            Assert.True(Value(first.Scrape(), "p2pstack_kad_inbound_requests_total", ("type", "find_node")) >= 2);
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task GossipSubCountsPublishedDeliveredAndMeshPeers()
    {
        const string topic = "metrics-topic";
        var network = new MemoryNetwork();
        await using var a = await Node.StartAsync(network, p2p => p2p.AddGossipSub(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(100)));
        await using var b = await Node.StartAsync(network, p2p => p2p.AddGossipSub(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(100)));
        var pubA = a.Get<GossipSubService>();
        var pubB = b.Get<GossipSubService>();
        using var subA = await pubA.SubscribeAsync(topic);
        using var subB = await pubB.SubscribeAsync(topic);
        await b.Host.DialAsync(a.Address, CancellationToken.None).AsTask().WaitAsync(Timeout);
        await EventuallyAsync(() => pubA.GetMeshPeers(topic).Count == 1 && pubB.GetMeshPeers(topic).Count == 1);

        await pubA.PublishAsync(topic, "hello"u8.ToArray());
        using var cts = new CancellationTokenSource(Timeout);
        var received = await subB.Reader.ReadAsync(cts.Token);
        Assert.Equal("hello"u8.ToArray(), received.Data.ToArray());

        var sa = a.Scrape();
        var sb = b.Scrape();
        Assert.Equal(1, Value(sa, "p2pstack_gossipsub_messages_published_total"));
        Assert.Equal(0, Value(sb, "p2pstack_gossipsub_messages_published_total"));
        Assert.Equal(1, Value(sb, "p2pstack_gossipsub_messages_delivered_total"));
        Assert.Equal(0, Value(sa, "p2pstack_gossipsub_messages_delivered_total")); // own messages are not "delivered" from the network
        Assert.Equal(1, Value(sa, "p2pstack_gossipsub_mesh_peers", ("topic", topic)));
        Assert.Equal(1, Value(sb, "p2pstack_gossipsub_mesh_peers", ("topic", topic)));
        Assert.Equal(0, Value(sb, "p2pstack_gossipsub_messages_rejected_total"));
    }

    private static async Task EventuallyAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            deadline.Token.ThrowIfCancellationRequested();
            await Task.Delay(20, deadline.Token);
        }
    }
}
