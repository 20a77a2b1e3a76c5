using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using P2PStack.Nat.Testing;
using Xunit.Abstractions;

namespace P2PStack.Nat.Lab.Tests;

/// <summary>
/// The NAT matrix of docs/benchmarks.md: for each NAT type pair, fresh nodes per run (fresh ports, so that no
/// TIME_WAIT or conntrack state of an earlier run helps or hinders), the dialer reaches the listener through its
/// relay address, the listener runs DCUtR, and we record direct or relayed, the rounds and the time to the direct
/// connection. A measurement, not a test of the product: it runs only when P2PSTACK_NAT_MATRIX_RUNS is set (runs per
/// pair) and writes artifacts/nat-matrix.md; its only assertion is that every run ended with a working connection.
/// </summary>
public sealed class NatMatrixBenchmark(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private sealed record Run(bool Direct, int Attempts, double ElapsedMs, string Reason);

    [SkippableFact]
    public async Task NatTypePairs()
    {
        Skip.If(!int.TryParse(Environment.GetEnvironmentVariable("P2PSTACK_NAT_MATRIX_RUNS"), out int runs) || runs < 1,
            "a benchmark: set P2PSTACK_NAT_MATRIX_RUNS to the runs per NAT pair");
        string? unavailable = await NetLab.UnavailableReasonAsync();
        Skip.If(unavailable is not null, unavailable);
        using var setup = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await using var lab = await NetLab.CreateAsync(setup.Token);
        await using var relay = await Peers.CSharpAsync(await lab.AddPublicHostAsync("relay", setup.Token),
            ["--listen", "/ip4/0.0.0.0/tcp/4001", "--relay-service", "--autonat", "--relay-limit-data", "none"], setup.Token);
        var publicHost = await lab.AddPublicHostAsync("pub", setup.Token);
        var cone1 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("cone1", NatBehaviour.EndpointIndependent, setup.Token), "c1", setup.Token);
        var cone2 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("cone2", NatBehaviour.EndpointIndependent, setup.Token), "c2", setup.Token);
        var sym1 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("sym1", NatBehaviour.Symmetric, setup.Token), "s1", setup.Token);
        var sym2 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("sym2", NatBehaviour.Symmetric, setup.Token), "s2", setup.Token);
        var pairs = new (string Name, NetNamespace Dialer, NetNamespace Listener)[]
        {
            ("public -> cone", publicHost, cone2),
            ("cone -> cone", cone1, cone2),
            ("cone -> symmetric", cone1, sym2),
            ("symmetric -> cone", sym1, cone2),
            ("symmetric -> symmetric", sym1, sym2),
        };
        string? only = Environment.GetEnvironmentVariable("P2PSTACK_NAT_MATRIX_PAIRS");
        if (only is { Length: > 0 }) pairs = [.. pairs.Where(p => only.Split(',').Contains(p.Name.Replace(" ", "", StringComparison.Ordinal)))];
        string[] node = ["--verbose", "--listen", "/ip4/0.0.0.0/tcp/0", "--reuse-port", "--relay", relay.Address().ToString(), "--autonat-client", "--confirmations", "1"];
        var table = new StringBuilder("| pair (dialer -> listener) | runs | direct | relayed | rounds (direct runs) | time to direct, median / max |\n| --- | --- | --- | --- | --- | --- |\n");
        foreach (var (name, dialerNs, listenerNs) in pairs)
        {
            var results = new List<Run>();
            for (int i = 0; i < runs; i++)
            {
                using var run = new CancellationTokenSource(Patience); // hang guard of the starts, per run
                await using var listener = await Peers.CSharpAsync(listenerNs, node, run.Token);
                await using var dialer = await Peers.CSharpAsync(dialerNs, node, run.Token);
                string circuit = await CircuitAddressAsync(listener);
                // The dialer's own reservation: its connection to the relay is up (and its address observed) before it
                // dials the circuit over that connection.
                await CircuitAddressAsync(dialer);
                await dialer.CommandAsync("dial", new JsonObject { ["addr"] = circuit, ["limited"] = true }, Patience);
                var punch = await listener.CommandAsync("holepunch", new JsonObject { ["peer"] = dialer.PeerId().ToString() }, Patience);
                var echo = await dialer.CommandAsync("echo", new JsonObject { ["peer"] = listener.PeerId().ToString(), ["size"] = 10_000 }, Patience);
                Assert.Equal(10_000, echo["bytes"]!.GetValue<int>());
                results.Add(new Run(echo["connection"]!["direct"]!.GetValue<bool>(), punch["attempts"]!.GetValue<int>(),
                    punch["elapsedMs"]!.GetValue<double>(), punch["reason"]!.GetValue<string>()));
                output.WriteLine($"{name} #{i + 1}: {(results[^1].Direct ? "direct" : "relayed")} {punch.ToJsonString()}");
                if (!results[^1].Direct) output.WriteLine($"addresses listener {(await listener.CommandAsync("addresses")).ToJsonString()}");
                if (!results[^1].Direct) output.WriteLine($"conns dialer {(await dialer.CommandAsync("connections")).ToJsonString()}\nconns listener {(await listener.CommandAsync("connections")).ToJsonString()}");
                if (!results[^1].Direct) output.WriteLine($"listener:\n{listener.Process.Tail()}\ndialer:\n{dialer.Process.Tail()}");
            }
            var direct = results.Where(r => r.Direct).ToList();
            var times = direct.Select(r => r.ElapsedMs).Order().ToList();
            string rounds = direct.Count == 0 ? "–" : string.Join(", ", direct.GroupBy(r => r.Attempts).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"));
            string time = times.Count == 0 ? "–" : $"{times[times.Count / 2]:0} ms / {times[^1]:0} ms";
            table.Append($"| {name} | {runs} | {direct.Count} | {runs - direct.Count} | {rounds} | {time} |\n");
        }
        output.WriteLine(table.ToString());
        string artifacts = Path.Combine(RepoRoot(), "artifacts");
        Directory.CreateDirectory(artifacts);
        await File.WriteAllTextAsync(Path.Combine(artifacts, "nat-matrix.md"), table.ToString());
    }

    private static async Task<string> CircuitAddressAsync(JsonLinesPeer peer)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var addresses = await peer.CommandAsync("addresses");
            if (addresses["relay"]!.AsArray().Count > 0) return $"{addresses["relay"]![0]!.GetValue<string>()}/p2p/{peer.PeerId()}";
            Assert.True(clock.Elapsed < Patience, $"no reservation: {peer.Process.Tail()}");
            await Task.Delay(200);
        }
    }

    private static string RepoRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "P2PStack.sln"))) directory = directory.Parent;
        return directory?.FullName ?? AppContext.BaseDirectory;
    }
}
