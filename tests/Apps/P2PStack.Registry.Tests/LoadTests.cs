namespace P2PStack.Registry.Tests;

/// <summary>A small version of the load benchmark (benchmarks: registry): concurrent nodes lose no heartbeat.</summary>
public sealed class LoadTests
{
    [Fact]
    public async Task Concurrent_nodes_register_and_heartbeat_without_losing_one()
    {
        const int Nodes = 60, Rounds = 3;
        await using var registry = await TestRegistry.StartAsync();
        var keys = Enumerable.Range(0, Nodes).Select(_ => Keys.New()).ToList();
        var clients = keys.Select(k => registry.Client(k)).ToList();
        try
        {
            await Task.WhenAll(clients.Select(c => c.RegisterAsync(new RegisterRequest { Addresses = ["/ip4/127.0.0.1/tcp/4001"] }, default)));
            using (var sovereign = registry.Client(registry.Sovereign))
                await Task.WhenAll(keys.Select(k => sovereign.ApproveAsync(k.Id(), null, default)));
            for (int round = 0; round < Rounds; round++)
            {
                var answers = await Task.WhenAll(clients.Select((c, i) => c.HeartbeatAsync(new HeartbeatRequest
                {
                    Connections = [new(keys[(i + 1) % Nodes].Id(), new RttStats(1, 1, 1, 1)), new(keys[(i + 2) % Nodes].Id())],
                }, default)));
                Assert.All(answers, a => Assert.Equal(NodeStatus.Active, a.Status));
            }
            Assert.All(keys, k => Assert.Equal(Rounds, registry.Server.HeartbeatCount(k.Id())));
            using var reader = registry.Client(registry.Sovereign);
            var topology = await reader.GetTopologyAsync(default);
            Assert.Equal(Nodes, topology.Nodes.Count);
            Assert.Equal(Nodes * 2, topology.Links.Count); // a ring and its chords, each pair once
        }
        finally
        {
            foreach (var client in clients) client.Dispose();
            foreach (var key in keys) key.Dispose();
        }
    }
}
