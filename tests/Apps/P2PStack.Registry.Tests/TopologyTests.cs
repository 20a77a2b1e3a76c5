using System.Net.Http.Json;
using System.Text.Json;
using P2PStack.Identity;

namespace P2PStack.Registry.Tests;

public sealed class TopologyTests
{
    private static async Task<(PrivateKey Key, RegistryClient Client)> ActiveNodeAsync(TestRegistry registry, string name, string? metrics = null)
    {
        var key = Keys.New();
        var client = registry.Client(key);
        await client.RegisterAsync(new RegisterRequest { Name = name, MetricsUrl = metrics, Addresses = ["/ip4/127.0.0.1/tcp/4001"] }, default);
        using var sovereign = registry.Client(registry.Sovereign);
        await sovereign.ApproveAsync(key.Id(), null, default);
        return (key, client);
    }

    [Fact]
    public async Task Heartbeats_report_links_with_rtt_into_topology_and_graph()
    {
        await using var registry = await TestRegistry.StartAsync();
        var (a, ca) = await ActiveNodeAsync(registry, "a");
        var (b, cb) = await ActiveNodeAsync(registry, "b");
        var (c, cc) = await ActiveNodeAsync(registry, "c");
        using (a) using (b) using (c) using (ca) using (cb) using (cc)
        {
            await ca.HeartbeatAsync(new HeartbeatRequest
            {
                Connections = [new(b.Id(), new RttStats(1.5, 1, 2, 1.4), "/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"), new(c.Id(), new RttStats(3, 3, 3, 3))],
            }, default);
            registry.Clock.Advance(TimeSpan.FromSeconds(1));
            // b reports the same link later: one link per pair, the freshest report.
            await cb.HeartbeatAsync(new HeartbeatRequest { Connections = [new(a.Id(), new RttStats(2, 1, 2, 1.6)), new(Keys.New().Id())] }, default);

            var topology = (await registry.Http.GetFromJsonAsync<Topology>("/topology", RegistryJson.Options))!;
            Assert.Equal(3, topology.Nodes.Count);
            Assert.Equal(2, topology.Links.Count); // a-b and a-c; the unregistered peer is left out
            var ab = topology.Links.Single(l => new[] { l.Source, l.Target }.Order().SequenceEqual(new[] { a.Id(), b.Id() }.Order()));
            Assert.Equal(b.Id(), ab.ReportedBy);
            Assert.Equal(1.6, ab.RttMs!.Avg);

            var node = await ca.GetNodeAsync(a.Id(), default);
            Assert.Equal(2, node.ConnectedPeers);
            Assert.Equal("/ip4/127.0.0.1/tcp/2", node.Connections!.Single(x => x.PeerId == b.Id()).RemoteAddress);

            using var graph = JsonDocument.Parse(await registry.Http.GetStringAsync("/graph"));
            var nodes = graph.RootElement.GetProperty("nodes");
            Assert.Equal(3, nodes.GetArrayLength());
            var first = nodes[0];
            foreach (var field in new[] { "id", "title", "subtitle", "mainstat", "secondarystat", "color", "arc__active", "arc__offline" })
                Assert.True(first.TryGetProperty(field, out _), $"node field {field}");
            var edges = graph.RootElement.GetProperty("edges");
            Assert.Equal(2, edges.GetArrayLength());
            foreach (var field in new[] { "id", "source", "target", "mainstat", "secondarystat" })
                Assert.True(edges[0].TryGetProperty(field, out _), $"edge field {field}");
            Assert.Contains(edges.EnumerateArray(), e => e.GetProperty("mainstat").GetDouble() == 1.6);
        }
    }

    [Fact]
    public async Task A_silent_node_goes_offline_and_comes_back_with_its_next_heartbeat()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.OfflineAfter = TimeSpan.FromMinutes(5));
        var (a, ca) = await ActiveNodeAsync(registry, "a");
        var (b, cb) = await ActiveNodeAsync(registry, "b");
        using (a) using (b) using (ca) using (cb)
        {
            await ca.HeartbeatAsync(new HeartbeatRequest { Connections = [new(b.Id(), new RttStats(1, 1, 1, 1))] }, default);
            registry.Clock.Advance(TimeSpan.FromMinutes(4));
            await cb.HeartbeatAsync(new HeartbeatRequest(), default);
            registry.Clock.Advance(TimeSpan.FromMinutes(2)); // a silent 6 min, b 2 min
            Assert.Equal([a.Id()], registry.Server.SweepNow());
            Assert.Equal(NodeStatus.Offline, (await cb.GetNodeAsync(a.Id(), default)).Status);
            Assert.Equal(NodeStatus.Active, (await cb.GetNodeAsync(b.Id(), default)).Status);
            Assert.Empty((await cb.GetTopologyAsync(default)).Links); // an offline node's reports are gone

            var back = await ca.HeartbeatAsync(new HeartbeatRequest(), default);
            Assert.Equal(NodeStatus.Active, back.Status);
            Assert.Empty(registry.Server.SweepNow());
        }
    }

    [Fact]
    public async Task Prometheus_targets_list_active_nodes_with_a_metrics_url()
    {
        await using var registry = await TestRegistry.StartAsync();
        var (a, ca) = await ActiveNodeAsync(registry, "alpha", "http://127.0.0.1:9464/metrics");
        var (b, cb) = await ActiveNodeAsync(registry, "beta"); // no metrics
        using var pendingKey = Keys.New();
        using var pending = registry.Client(pendingKey);
        await pending.RegisterAsync(new RegisterRequest { MetricsUrl = "http://127.0.0.1:9465/metrics" }, default);
        using (a) using (b) using (ca) using (cb)
        {
            using var json = JsonDocument.Parse(await registry.Http.GetStringAsync("/prometheus/targets"));
            var group = Assert.Single(json.RootElement.EnumerateArray());
            Assert.Equal("127.0.0.1:9464", Assert.Single(group.GetProperty("targets").EnumerateArray()).GetString());
            var labels = group.GetProperty("labels");
            Assert.Equal(a.Id(), labels.GetProperty("node_id").GetString());
            Assert.Equal("alpha", labels.GetProperty("node_name").GetString());
            Assert.Equal("/metrics", labels.GetProperty("__metrics_path__").GetString());
            Assert.Equal("http", labels.GetProperty("__scheme__").GetString());

            // Offline nodes are no targets.
            registry.Clock.Advance(TimeSpan.FromMinutes(10));
            registry.Server.SweepNow();
            using var after = JsonDocument.Parse(await registry.Http.GetStringAsync("/prometheus/targets"));
            Assert.Equal(0, after.RootElement.GetArrayLength());
        }
    }

    [Fact]
    public async Task The_event_stream_carries_register_approve_offline_and_topology_events()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var stream = await registry.Http.GetStreamAsync("/events");
        using var reader = new StreamReader(stream);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        async Task<RegistryEvent> NextAsync()
        {
            string? type = null;
            while (await reader.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal) && type is not null)
                {
                    var item = JsonSerializer.Deserialize<RegistryEvent>(line[6..], RegistryJson.Options)!;
                    Assert.Equal(type, item.Type);
                    return item;
                }
            }
            throw new EndOfStreamException();
        }

        Assert.Equal("hello", (await NextAsync()).Type);
        using var key = Keys.New();
        using var node = registry.Client(key);
        await node.RegisterAsync(new RegisterRequest(), default);
        Assert.Equal(new RegistryEvent("register", key.Id(), NodeStatus.Pending, default), (await NextAsync()) with { At = default });
        using var sovereign = registry.Client(registry.Sovereign);
        await sovereign.ApproveAsync(key.Id(), null, default);
        Assert.Equal(("approve", NodeStatus.Active), ((await NextAsync()).Type, NodeStatus.Active));
        await node.HeartbeatAsync(new HeartbeatRequest(), default);
        Assert.Equal("topology", (await NextAsync()).Type);
        registry.Clock.Advance(TimeSpan.FromMinutes(10));
        registry.Server.SweepNow();
        var offline = await NextAsync();
        Assert.Equal(("offline", key.Id(), NodeStatus.Offline), (offline.Type, offline.NodeId, offline.Status));
        await node.HeartbeatAsync(new HeartbeatRequest(), default);
        var online = await NextAsync();
        Assert.Equal(("online", NodeStatus.Active), (online.Type, online.Status));
    }

    [Fact]
    public async Task Event_subscribers_are_capped()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.MaxEventSubscribers = 1);
        using var first = await registry.Http.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.OK, first.StatusCode);
        using var second = await registry.Http.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, second.StatusCode);
    }
}

public sealed class DiscoveryTests
{
    [Fact]
    public async Task Discovery_returns_the_other_active_nodes_with_their_addresses()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var self = Keys.New();
        using var active = Keys.New();
        using var pending = Keys.New();
        using var liar = Keys.New();
        using var sovereign = registry.Client(registry.Sovereign);
        foreach (var (key, addresses) in new[]
        {
            (self, new[] { "/ip4/127.0.0.1/tcp/1" }),
            (active, new[] { $"/ip4/127.0.0.1/tcp/2/p2p/{active.Id()}", "/ip4/127.0.0.1/tcp/3" }),
            (pending, new[] { "/ip4/127.0.0.1/tcp/4" }),
            (liar, new[] { $"/ip4/127.0.0.1/tcp/5/p2p/{active.Id()}" }), // another node's address only
        })
        {
            using var client = registry.Client(key);
            await client.RegisterAsync(new RegisterRequest { Addresses = addresses }, default);
            if (key != pending) await sovereign.ApproveAsync(key.Id(), null, default);
        }
        using var reader = registry.Client(self);
        var found = await RegistryDiscovery.FindActiveAsync(reader, P2PStack.Identity.PeerId.FromPublicKey(self.PublicKey), default);
        var node = Assert.Single(found);
        Assert.Equal(active.Id(), node.Peer.ToString());
        Assert.Equal(["/ip4/127.0.0.1/tcp/2", "/ip4/127.0.0.1/tcp/3"], node.Addresses.Select(a => a.ToString()));
    }
}
