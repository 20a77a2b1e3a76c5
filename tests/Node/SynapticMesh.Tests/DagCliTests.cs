using System.Diagnostics;
using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>
/// Five real nodes (separate processes, TCP on loopback) voting in one DAG with the CLI's defaults: open membership
/// announced on the DAG's swarm, Avalanche parameters, the DAG in each home's dag.db. Shared by the tests of
/// <see cref="DagCliTests"/>.
/// </summary>
public sealed class FiveDagNodes : IAsyncLifetime
{
    private readonly List<TempHome> _homes = [.. Enumerable.Range(0, 5).Select(_ => new TempHome())];
    private readonly NodeProcess?[] _nodes = new NodeProcess?[5];

    public NodeProcess Node(int i) => _nodes[i] ?? throw new InvalidOperationException($"node {i} is not running");

    public TempHome Home(int i) => _homes[i];

    /// <summary>Stops node <paramref name="i"/> with SIGTERM (a clean shutdown).</summary>
    public async Task StopAsync(int i)
    {
        var node = Node(i);
        CliProcess.SendSigterm(node.Process);
        await node.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await node.DisposeAsync();
        _nodes[i] = null;
    }

    public async Task RestartAsync(int i) => _nodes[i] = await NodeProcess.StartAsync(_homes[i]);

    public async Task InitializeAsync()
    {
        foreach (var home in _homes)
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"]);
            Assert.True(init.ExitCode == 0, init.Stderr);
            // Announce every 2 s instead of 10, so that the members find each other quickly. Polls wait 10 s instead
            // of 2: in CI the five processes share 2 cores with other test assemblies (the DAG simulations among them),
            // answers came after 2 s, counted as no votes, and no proposal was decided within 4 min (CI run Q).
            var config = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(File.ReadAllText(home.File("config.json")))!;
            config["dag"] = JsonSerializer.SerializeToElement(new { announceIntervalSeconds = 2, pollTimeoutSeconds = 10 });
            File.WriteAllText(home.File("config.json"), JsonSerializer.Serialize(config));
        }
        for (int i = 0; i < 5; i++) _nodes[i] = await NodeProcess.StartAsync(_homes[i]);
        for (int i = 1; i < 5; i++) await Node(i).RunJsonAsync("p2p", "connect", Node(0).TcpAddress);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
            if (node is not null) await node.DisposeAsync();
        foreach (var home in _homes) home.Dispose();
    }
}

public sealed class DagCliTests(FiveDagNodes nodes) : IClassFixture<FiveDagNodes>
{
    // A hang guard: five DAG nodes decide in ~30 s on a quiet machine, but took over 120 s once while the 2 cores also
    // built the solution (DAG liveness under CPU starvation is an open point of issue 11).
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(240);

    private NodeProcess Node(int i) => nodes.Node(i);

    private Task<JsonElement> StatusAsync(int i) => Node(i).RunJsonAsync("p2p", "dag", "status");

    private async Task<string?> StatusOfAsync(int i, string id)
    {
        var result = await Node(i).RunAsync("p2p", "dag", "get", id, "--json");
        if (result.ExitCode != 0) return null; // not here yet
        using var json = JsonDocument.Parse(result.Stdout);
        return json.RootElement.GetProperty("status").GetString();
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(500);
        }
    }

    private async Task<bool> DecidedEverywhereAsync(IEnumerable<int> nodes, params string[] ids)
    {
        foreach (int i in nodes)
            foreach (var id in ids)
                if (await StatusOfAsync(i, id) is not ("accepted" or "rejected")) return false;
        return true;
    }

    [Fact]
    public async Task Five_nodes_reach_the_same_finalized_set_and_a_restarted_node_recovers_and_catches_up()
    {
        await WaitUntilAsync(async () => (await Task.WhenAll(Enumerable.Range(0, 5).Select(StatusAsync))).All(s => s.GetProperty("members").GetInt32() == 5),
            "every node to count five voters");

        // Conflicting proposals at two nodes at once, and two without conflicts.
        var proposals = await Task.WhenAll(
            Node(1).RunJsonAsync("p2p", "dag", "propose", "pay alice 5", "--conflict-key", "coin-7"),
            Node(2).RunJsonAsync("p2p", "dag", "propose", "pay bob 5", "--conflict-key", "coin-7"),
            Node(3).RunJsonAsync("p2p", "dag", "propose", "hello dag"),
            Node(4).RunJsonAsync("p2p", "dag", "propose", "{\"kind\":\"decision\",\"value\":42}"));
        var ids = proposals.Select(p => p.GetProperty("id").GetString()!).ToArray();
        await WaitUntilAsync(() => DecidedEverywhereAsync(Enumerable.Range(0, 5), ids), "every node to decide every proposal");

        var finalized = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            var statuses = new List<string>();
            foreach (var id in ids) statuses.Add((await StatusOfAsync(i, id))!);
            finalized.Add(string.Join(",", statuses));
            var status = await StatusAsync(i);
            Assert.True(status.GetProperty("finalized").GetInt64() >= 4);
            Assert.Equal(0, status.GetProperty("processing").GetInt32());
        }
        Assert.Single(finalized.Distinct()); // the same finalized set everywhere
        Assert.Contains(finalized[0].Split(',')[..2], s => s == "accepted");
        Assert.Contains(finalized[0].Split(',')[..2], s => s == "rejected");
        Assert.Equal(["accepted", "accepted"], finalized[0].Split(',')[2..]);

        // get shows the payload and its decision; a second vertex on a key this node used is refused.
        var vertex = await Node(0).RunJsonAsync("p2p", "dag", "get", ids[3][..12]);
        Assert.Equal(ids[3], vertex.GetProperty("id").GetString());
        Assert.Equal("{\"kind\":\"decision\",\"value\":42}", vertex.GetProperty("payload").GetString());
        var again = await Node(1).RunAsync("p2p", "dag", "propose", "pay carol 5", "--conflict-key", "coin-7");
        again.AssertOneLineError("would equivocate");

        // Restart node 3 mid-run: proposals made while it is down wait for its votes (a fifth of the weight).
        await nodes.StopAsync(3);
        var during = await Node(0).RunJsonAsync("p2p", "dag", "propose", "while node 3 is down");
        await nodes.RestartAsync(3);
        var recovered = await StatusAsync(3);
        Assert.True(recovered.GetProperty("accepted").GetInt64() >= 3, "the DAG comes back from dag.db before any catch-up");
        Assert.Equal("accepted", await StatusOfAsync(3, ids[2]));
        await Node(3).RunJsonAsync("p2p", "connect", Node(0).TcpAddress);
        var after = await Node(4).RunJsonAsync("p2p", "dag", "propose", "after the restart");
        var more = new[] { during.GetProperty("id").GetString()!, after.GetProperty("id").GetString()! };
        await WaitUntilAsync(() => DecidedEverywhereAsync(Enumerable.Range(0, 5), more), "every node, the restarted one too, to decide the later proposals");
        for (int i = 0; i < 5; i++)
            foreach (var id in more) Assert.Equal("accepted", await StatusOfAsync(i, id));
    }

    [Fact]
    public async Task Watch_prints_vertices_as_they_arrive_and_are_decided()
    {
        await WaitUntilAsync(async () => (await StatusAsync(2)).GetProperty("members").GetInt32() == 5, "node 2 to count five voters");
        var watch = Process.Start(CliProcess.StartInfo(["p2p", "dag", "watch", "--json", "--home", nodes.Home(2).Path], null))!;
        try
        {
            watch.StandardInput.Close();
            using (var ready = new CancellationTokenSource(Patience))
                Assert.Equal("watching the DAG (Ctrl+C to stop)", await watch.StandardError.ReadLineAsync(ready.Token));
            var proposed = await Node(0).RunJsonAsync("p2p", "dag", "propose", "watch me", "--wait");
            Assert.Equal("accepted", proposed.GetProperty("status").GetString());
            string id = proposed.GetProperty("id").GetString()!;
            var seen = new List<string>();
            using var reading = new CancellationTokenSource(Patience);
            while (!seen.Contains("accepted"))
            {
                string line = await watch.StandardOutput.ReadLineAsync(reading.Token) ?? throw new InvalidOperationException("watch ended");
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.GetProperty("id").GetString() != id) continue;
                seen.Add(json.RootElement.GetProperty("event").GetString()!);
                if (seen[^1] == "accepted") Assert.True(json.RootElement.GetProperty("latencyMs").GetDouble() > 0);
            }
            Assert.Equal(["added", "accepted"], seen);
        }
        finally
        {
            CliProcess.SendSigterm(watch);
            await watch.WaitForExitAsync().WaitAsync(Patience);
            watch.Dispose();
        }
    }

    [Fact]
    public async Task Bad_input_gets_one_line_errors()
    {
        (await Node(0).RunAsync("p2p", "dag", "get", "not-hex")).AssertOneLineError("hex digits");
        (await Node(0).RunAsync("p2p", "dag", "get", new string('a', 64))).AssertOneLineError("no vertex");
        (await Node(0).RunAsync("p2p", "dag", "propose", new string('x', 20_000))).AssertOneLineError("payload");
        var stopped = new TempHome();
        try
        {
            (await CliProcess.RunAsync(["p2p", "dag", "status", "--home", stopped.Path])).AssertOneLineError("no node is running");
        }
        finally
        {
            stopped.Dispose();
        }
    }
}
