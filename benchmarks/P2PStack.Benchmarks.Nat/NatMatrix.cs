using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using P2PStack.Nat.Testing;

namespace P2PStack.Benchmarks.Nat;

/// <summary>
/// The NAT matrix of docs/benchmarks.md: for each NAT type pair, fresh nodes per run (fresh ports, so that no
/// TIME_WAIT or conntrack state of an earlier run helps or hinders), the dialer reaches the listener through its
/// relay address, the listener runs DCUtR, and we record direct or relayed, the rounds and the time to the direct
/// connection (from the start of the upgrade). Every run must end with a working connection (a 10 kB echo over it).
/// </summary>
internal sealed class NatMatrix(NetLab lab, JsonLinesPeer relay, TextWriter log, TimeSpan patience)
{
    public static readonly string[] PairNames = ["public->cone", "cone->cone", "cone->symmetric", "symmetric->cone", "symmetric->symmetric"];

    private sealed record Run(bool Direct, int Attempts, double ElapsedMs, string Reason);

    /// <summary>Runs <paramref name="runs"/> runs of each pair and returns the markdown table; one JSON line per run
    /// goes to <paramref name="runLog"/>.</summary>
    public async Task<string> RunAsync(int runs, IReadOnlyCollection<string> pairNames, TextWriter runLog, CancellationToken ct)
    {
        var publicHost = await lab.AddPublicHostAsync("pub", ct);
        var cone1 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("cone1", NatBehaviour.EndpointIndependent, ct), "c1", ct);
        var cone2 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("cone2", NatBehaviour.EndpointIndependent, ct), "c2", ct);
        var sym1 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("sym1", NatBehaviour.Symmetric, ct), "s1", ct);
        var sym2 = await lab.AddHostBehindAsync(await lab.AddNatRouterAsync("sym2", NatBehaviour.Symmetric, ct), "s2", ct);
        var pairs = new (string Name, NetNamespace Dialer, NetNamespace Listener)[]
        {
            ("public->cone", publicHost, cone2),
            ("cone->cone", cone1, cone2),
            ("cone->symmetric", cone1, sym2),
            ("symmetric->cone", sym1, cone2),
            ("symmetric->symmetric", sym1, sym2),
        };
        string[] node = ["--listen", "/ip4/0.0.0.0/tcp/0", "--reuse-port", "--relay", relay.Address().ToString(), "--autonat-client", "--confirmations", "1"];
        var table = new StringBuilder("| pair (dialer -> listener) | runs | direct | relayed | DCUtR rounds of direct runs | time to direct, median / max | why relayed |\n| --- | --- | --- | --- | --- | --- | --- |\n");
        foreach (var (name, dialerNs, listenerNs) in pairs.Where(p => pairNames.Contains(p.Name)))
        {
            var results = new List<Run>();
            for (int i = 0; i < runs; i++)
            {
                using var run = CancellationTokenSource.CreateLinkedTokenSource(ct);
                run.CancelAfter(patience); // hang guard of the starts, per run
                await using var listener = await Peers.CSharpAsync(listenerNs, node, run.Token);
                await using var dialer = await Peers.CSharpAsync(dialerNs, node, run.Token);
                string circuit = await CircuitAddressAsync(listener);
                // The dialer's own reservation: its connection to the relay is up before it dials the circuit over it.
                await CircuitAddressAsync(dialer);
                await dialer.CommandAsync("dial", new JsonObject { ["addr"] = circuit, ["limited"] = true }, patience);
                var punch = await listener.CommandAsync("holepunch", new JsonObject { ["peer"] = dialer.PeerId().ToString() }, patience);
                var echo = await dialer.CommandAsync("echo", new JsonObject { ["peer"] = listener.PeerId().ToString(), ["size"] = 10_000 }, patience);
                if (echo["bytes"]!.GetValue<int>() != 10_000) throw new InvalidOperationException($"{name}: the echo lost bytes: {echo.ToJsonString()}");
                var result = new Run(echo["connection"]!["direct"]!.GetValue<bool>(), punch["attempts"]!.GetValue<int>(),
                    punch["elapsedMs"]!.GetValue<double>(), punch["reason"]!.GetValue<string>());
                results.Add(result);
                await runLog.WriteLineAsync(new JsonObject
                {
                    ["pair"] = name, ["run"] = i + 1, ["direct"] = result.Direct, ["attempts"] = result.Attempts,
                    ["elapsedMs"] = result.ElapsedMs, ["reason"] = result.Reason,
                }.ToJsonString());
                await runLog.FlushAsync(ct);
                log.WriteLine($"{name} #{i + 1}: {(result.Direct ? "direct" : "relayed")} ({result.Reason}, {result.Attempts} rounds, {result.ElapsedMs:0} ms)");
            }
            var direct = results.Where(r => r.Direct).ToList();
            var times = direct.Select(r => r.ElapsedMs).Order().ToList();
            string rounds = direct.Count == 0 ? "–" : string.Join(", ", direct.GroupBy(r => r.Attempts).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"));
            string time = times.Count == 0 ? "–" : $"{times[times.Count / 2]:0} ms / {times[^1]:0} ms";
            var relayed = results.Where(r => !r.Direct).GroupBy(r => r.Reason).Select(g => $"{g.Key}: {g.Count()}");
            table.Append($"| {name.Replace("->", " -> ", StringComparison.Ordinal)} | {runs} | {direct.Count} | {runs - direct.Count} | {rounds} | {time} | {string.Join(", ", relayed)} |\n");
        }
        return table.ToString();
    }

    private async Task<string> CircuitAddressAsync(JsonLinesPeer peer)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var addresses = await peer.CommandAsync("addresses");
            if (addresses["relay"]!.AsArray().Count > 0) return $"{addresses["relay"]![0]!.GetValue<string>()}/p2p/{peer.PeerId()}";
            if (clock.Elapsed > patience) throw new TimeoutException($"no reservation: {peer.Process.Tail()}");
            await Task.Delay(200);
        }
    }
}
