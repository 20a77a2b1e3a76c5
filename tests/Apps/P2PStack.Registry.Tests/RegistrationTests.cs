using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using P2PStack.Identity;

namespace P2PStack.Registry.Tests;

public sealed class RegistrationTests
{
    private static RegisterRequest Registration(string name = "node", string? metrics = null) => new()
    {
        Name = name,
        Addresses = ["/ip4/127.0.0.1/tcp/9000"],
        Services = [new ServiceInfo("ping", "/ipfs/ping/1.0.0")],
        MetricsUrl = metrics,
        Metadata = new Dictionary<string, string> { ["agent"] = "test" },
    };

    [Fact]
    public async Task Health_answers_ok()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var json = JsonDocument.Parse(await registry.Http.GetStringAsync("/"));
        Assert.Equal("ok", json.RootElement.GetProperty("status").GetString());
        Assert.Equal(0, json.RootElement.GetProperty("nodes").GetProperty("active").GetInt32());
    }

    [Fact]
    public async Task A_new_node_is_pending_until_a_sovereign_approves_it()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var key = Keys.New();
        using var node = registry.Client(key);
        var registered = await node.RegisterAsync(Registration(), default);
        Assert.Equal(key.Id(), registered.NodeId);
        Assert.Equal(NodeStatus.Pending, registered.Status);

        using var raw = node.CreateSignedRequest(HttpMethod.Post, "register", JsonSerializer.SerializeToUtf8Bytes(Registration("renamed"), RegistryJson.Options));
        using var again = await registry.Http.SendAsync(raw);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode); // re-registration updates, 201 only the first time

        using var sovereign = registry.Client(registry.Sovereign);
        var approved = await sovereign.ApproveAsync(key.Id(), "known operator", default);
        Assert.Equal(NodeStatus.Active, approved.Status);

        var view = await sovereign.GetNodeAsync(key.Id(), default);
        Assert.Equal("renamed", view.Name);
        Assert.Equal(NodeStatus.Active, view.Status);
        Assert.Equal(registry.Sovereign.Id(), view.DecidedBy);
        Assert.Equal("known operator", view.Reason);
        Assert.Equal("/ipfs/ping/1.0.0", Assert.Single(view.Services).Protocol);
        Assert.Equal("test", view.Metadata!["agent"]);
        Assert.Equal(["/ip4/127.0.0.1/tcp/9000"], view.Addresses);
    }

    [Fact]
    public async Task Nodes_are_listed_and_filtered_by_status()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var a = Keys.New();
        using var b = Keys.New();
        using var c = Keys.New();
        foreach (var key in new[] { a, b, c })
        {
            using var client = registry.Client(key);
            await client.RegisterAsync(Registration(), default);
        }
        using var sovereign = registry.Client(registry.Sovereign);
        await sovereign.ApproveAsync(a.Id(), null, default);
        await sovereign.DenyAsync(b.Id(), "unknown", default);

        Assert.Equal(3, (await sovereign.GetNodesAsync(null, default)).Count);
        Assert.Equal([a.Id()], (await sovereign.GetNodesAsync(NodeStatus.Active, default)).Nodes.Select(n => n.Id));
        Assert.Equal([b.Id()], (await sovereign.GetNodesAsync(NodeStatus.Denied, default)).Nodes.Select(n => n.Id));
        Assert.Equal([c.Id()], (await sovereign.GetNodesAsync(NodeStatus.Pending, default)).Nodes.Select(n => n.Id));
        Assert.Empty((await sovereign.GetNodesAsync(NodeStatus.Offline, default)).Nodes);

        var unknownStatus = await Assert.ThrowsAsync<RegistryRequestException>(() => sovereign.GetNodesAsync("sleeping", default));
        Assert.Equal(400, unknownStatus.Status);
        var unknownNode = await Assert.ThrowsAsync<RegistryRequestException>(() => sovereign.GetNodeAsync(Keys.New().Id(), default));
        Assert.Equal(404, unknownNode.Status);
        var notAPeerId = await Assert.ThrowsAsync<RegistryRequestException>(() => sovereign.GetNodeAsync("not-a-peer-id", default));
        Assert.Equal(400, notAPeerId.Status);
    }

    [Fact]
    public async Task A_sovereign_registering_its_own_node_is_approved_at_once()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var sovereign = registry.Client(registry.Sovereign);
        Assert.Equal(NodeStatus.Active, (await sovereign.RegisterAsync(Registration(), default)).Status);
    }

    [Fact]
    public async Task A_denied_node_can_neither_heartbeat_nor_register_again()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var key = Keys.New();
        using var node = registry.Client(key);
        await node.RegisterAsync(Registration(), default);
        using var sovereign = registry.Client(registry.Sovereign);
        Assert.Equal(NodeStatus.Denied, (await sovereign.DenyAsync(key.Id(), null, default)).Status);

        var heartbeat = await Assert.ThrowsAsync<RegistryRequestException>(() => node.HeartbeatAsync(new HeartbeatRequest(), default));
        Assert.Equal(403, heartbeat.Status);
        var register = await Assert.ThrowsAsync<RegistryRequestException>(() => node.RegisterAsync(Registration(), default));
        Assert.Equal(403, register.Status);

        // A sovereign may change its mind.
        Assert.Equal(NodeStatus.Active, (await sovereign.ApproveAsync(key.Id(), null, default)).Status);
        await node.HeartbeatAsync(new HeartbeatRequest(), default);
    }

    [Fact]
    public async Task Approve_and_deny_of_an_unknown_node_are_404()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var sovereign = registry.Client(registry.Sovereign);
        Assert.Equal(404, (await Assert.ThrowsAsync<RegistryRequestException>(() => sovereign.ApproveAsync(Keys.New().Id(), null, default))).Status);
        Assert.Equal(404, (await Assert.ThrowsAsync<RegistryRequestException>(() => sovereign.DenyAsync(Keys.New().Id(), null, default))).Status);
        Assert.Equal(400, (await Assert.ThrowsAsync<RegistryRequestException>(() => sovereign.ApproveAsync("garbage", null, default))).Status);
    }

    [Fact]
    public async Task Heartbeat_before_registration_is_404()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var node = registry.Client(Keys.New());
        var error = await Assert.ThrowsAsync<RegistryRequestException>(() => node.HeartbeatAsync(new HeartbeatRequest(), default));
        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task Registration_data_over_the_limits_or_malformed_is_refused_with_400()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.MaxAddressesPerNode = 2);
        using var key = Keys.New();
        using var node = registry.Client(key);
        async Task<int> Status(RegisterRequest request) =>
            (await Assert.ThrowsAsync<RegistryRequestException>(() => node.RegisterAsync(request, default))).Status;

        Assert.Equal(400, await Status(Registration() with { Addresses = ["/ip4/1.2.3.4/tcp/1", "/ip4/1.2.3.4/tcp/2", "/ip4/1.2.3.4/tcp/3"] }));
        Assert.Equal(400, await Status(Registration() with { Addresses = ["not a multiaddr"] }));
        Assert.Equal(400, await Status(Registration() with { Name = new string('x', 10_000) }));
        Assert.Equal(400, await Status(Registration() with { Name = "line\nbreak" }));
        Assert.Equal(400, await Status(Registration() with { MetricsUrl = "ftp://127.0.0.1/metrics" }));
        Assert.Equal(400, await Status(Registration() with { Services = [new ServiceInfo("a"), new ServiceInfo("a")] }));
        Assert.Equal(400, await Status(Registration() with { Services = [new ServiceInfo("a", Port: 70_000)] }));
    }

    [Fact]
    public async Task A_node_may_only_offer_metrics_on_its_own_address()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var key = Keys.New();
        using var node = registry.Client(key);
        var elsewhere = await Assert.ThrowsAsync<RegistryRequestException>(() =>
            node.RegisterAsync(Registration(metrics: "http://10.1.2.3:9464/metrics"), default));
        Assert.Equal(400, elsewhere.Status);
        Assert.Contains("not the address this request comes from", elsewhere.Message);
        var byName = await Assert.ThrowsAsync<RegistryRequestException>(() =>
            node.RegisterAsync(Registration(metrics: "http://metrics.example:9464/metrics"), default));
        Assert.Equal(400, byName.Status);
        // Loopback client, loopback metrics: fine.
        await node.RegisterAsync(Registration(metrics: "http://127.0.0.1:9464/metrics"), default);
    }

    [Fact]
    public async Task Pending_nodes_are_capped_so_free_identities_cannot_fill_the_registry()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.MaxPendingNodes = 2);
        for (int i = 0; i < 2; i++)
        {
            using var client = registry.Client(Keys.New());
            await client.RegisterAsync(Registration(), default);
        }
        using var third = registry.Client(Keys.New());
        Assert.Equal(503, (await Assert.ThrowsAsync<RegistryRequestException>(() => third.RegisterAsync(Registration(), default))).Status);
    }

    [Fact]
    public async Task Long_silent_pending_nodes_are_forgotten_by_the_sweep()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.PendingRetention = TimeSpan.FromHours(1));
        using var key = Keys.New();
        using var node = registry.Client(key);
        await node.RegisterAsync(Registration(), default);
        registry.Clock.Advance(TimeSpan.FromHours(2));
        registry.Server.SweepNow();
        using var sovereign = registry.Client(registry.Sovereign);
        Assert.Empty((await sovereign.GetNodesAsync(null, default)).Nodes);
    }

    [Fact]
    public async Task Nodes_and_sovereigns_survive_a_restart()
    {
        var sovereignKey = Keys.New();
        using var key = Keys.New();
        var registry = await TestRegistry.StartAsync(sovereign: sovereignKey);
        var extraSovereign = Keys.New();
        using (var node = registry.Client(key)) await node.RegisterAsync(Registration(), default);
        using (var sovereign = registry.Client(sovereignKey)) await sovereign.AddSovereignAsync(extraSovereign.Id(), null, default);
        var directory = await registry.StopKeepingDataAsync();

        await using var restarted = await TestRegistry.StartAsync(directory: directory, sovereign: sovereignKey);
        using var extra = restarted.Client(extraSovereign);
        Assert.Equal(NodeStatus.Active, (await extra.ApproveAsync(key.Id(), null, default)).Status);
    }

    [Fact]
    public async Task Read_endpoints_answer_their_json_shapes()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var key = Keys.New();
        using var node = registry.Client(key);
        await node.RegisterAsync(Registration(), default);
        var nodes = await registry.Http.GetFromJsonAsync<NodeList>("/nodes", RegistryJson.Options);
        Assert.Equal(1, nodes!.Count);
        Assert.Equal(key.Id(), nodes.Nodes[0].Id);
        var topology = await registry.Http.GetFromJsonAsync<Topology>("/topology", RegistryJson.Options);
        Assert.Single(topology!.Nodes);
        Assert.Empty(topology.Links);
    }

    [Fact]
    public void Sovereign_keys_may_be_given_as_peer_ids_or_public_keys()
    {
        using var key = Keys.New();
        var id = PeerId.FromPublicKey(key.PublicKey);
        Assert.Equal(id, SovereignKey.Parse(System.Buffers.Text.Base64Url.EncodeToString(key.PublicKey.ToProtobuf())));
        Assert.Equal(id, SovereignKey.Parse(id.ToString()));
        Assert.Throws<FormatException>(() => SovereignKey.Parse("nonsense!"));
    }
}
