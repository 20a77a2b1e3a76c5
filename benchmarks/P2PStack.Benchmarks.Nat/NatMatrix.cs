using System.Text;
using System.Text.Json.Nodes;
using P2PStack.Interop.Support;
using P2PStack.Nat.Testing;

namespace P2PStack.Benchmarks.Nat;

/// <summary>
/// The NAT matrix of docs/benchmarks.md: for each NAT type pair, fresh nodes per run (fresh ports, so that no
/// TIME_WAIT or conntrack state of an earlier run helps or hinders), the dialer reaches the listener through its
/// relay address, the listener runs DCUtR, and we record direct or relayed, the rounds and the time to the direct
/// connection (from the start of the upgrade). A run counts only with a working connection (a 10 kB echo over it);
/// a run that ends without one (an error, a hang guard) is recorded as failed with its error and the matrix goes on.
/// Runs go round by round over the pairs, so that a matrix stopped early has about as many runs of every pair, and a
/// run log that already holds runs (an earlier, stopped session) is continued where it stopped.
/// </summary>
internal sealed class NatMatrix(NetLab lab, JsonLinesPeer relay, TextWriter log, TimeSpan patience)
{
    public static readonly string[] PairNames = ["public->cone", "cone->cone", "cone->symmetric", "symmetric->cone", "symmetric->symmetric"];

    private sealed record Run(string Outcome, int Attempts, double ElapsedMs, string Reason)
    {
        public bool Direct => Outcome == "direct";
    }

    /// <summary>Runs each pair until <paramref name="runLogPath"/> holds <paramref name="runs"/> runs of it (one JSON
    /// line per run, appended) and returns the markdown table of all the runs in the log.</summary>
    public async Task<string> RunAsync(int runs, IReadOnlyCollection<string> pairNames, string runLogPath, CancellationToken ct)
    {
        var results = pairNames.ToDictionary(p => p, _ => new List<Run>());
        if (File.Exists(runLogPath))
        {
            foreach (string line in await File.ReadAllLinesAsync(runLogPath, ct))
            {
                if (JsonNode.Parse(line) is not JsonObject run || !results.TryGetValue(run["pair"]!.GetValue<string>(), out var list)) continue;
                // Logs of before the "outcome" field only had direct or relayed runs.
                string outcome = run["outcome"]?.GetValue<string>() ?? (run["direct"]!.GetValue<bool>() ? "direct" : "relayed");
                list.Add(new Run(outcome, run["attempts"]!.GetValue<int>(), run["elapsedMs"]!.GetValue<double>(), run["reason"]!.GetValue<string>()));
            }
            log.WriteLine($"continuing {runLogPath}: {string.Join(", ", results.Select(r => $"{r.Key} {r.Value.Count}"))} runs done");
        }

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
        }.Where(p => pairNames.Contains(p.Name)).ToList();

        await using var runLog = new StreamWriter(runLogPath, append: true);
        for (int round = 0; round < runs; round++)
        {
            foreach (var (name, dialerNs, listenerNs) in pairs)
            {
                var done = results[name];
                if (done.Count > round) continue;
                var result = await RunOnceAsync(name, dialerNs, listenerNs, ct);
                done.Add(result);
                await runLog.WriteLineAsync(new JsonObject
                {
                    ["pair"] = name, ["run"] = done.Count, ["outcome"] = result.Outcome, ["direct"] = result.Direct,
                    ["attempts"] = result.Attempts, ["elapsedMs"] = result.ElapsedMs, ["reason"] = result.Reason,
                    ["at"] = DateTime.UtcNow.ToString("O"),
                }.ToJsonString());
                await runLog.FlushAsync(ct);
                log.WriteLine($"{name} #{done.Count}: {result.Outcome} ({result.Reason}, {result.Attempts} rounds, {result.ElapsedMs:0} ms)");
            }
        }
        return Table(pairs.Select(p => (p.Name, results[p.Name])));
    }

    private async Task<Run> RunOnceAsync(string name, NetNamespace dialerNs, NetNamespace listenerNs, CancellationToken ct)
    {
        string[] node = ["--listen", "/ip4/0.0.0.0/tcp/0", "--reuse-port", "--relay", relay.Address().ToString(), "--autonat-client", "--confirmations", "1"];
        using var run = CancellationTokenSource.CreateLinkedTokenSource(ct);
        run.CancelAfter(patience * 4); // hang guard of the whole run; each step has its own
        JsonLinesPeer? listener = null, dialer = null;
        try
        {
            listener = await Peers.CSharpAsync(listenerNs, node, run.Token);
            dialer = await Peers.CSharpAsync(dialerNs, node, run.Token);
            string circuit = await listener.CircuitAddressAsync(patience, run.Token);
            // The dialer's own reservation: its connection to the relay is up before it dials the circuit over it.
            await dialer.CircuitAddressAsync(patience, run.Token);
            await dialer.CommandAsync("dial", new JsonObject { ["addr"] = circuit, ["limited"] = true }, patience);
            var punch = await listener.CommandAsync("holepunch", new JsonObject { ["peer"] = dialer.PeerId().ToString() }, patience);
            var echo = await dialer.CommandAsync("echo", new JsonObject { ["peer"] = listener.PeerId().ToString(), ["size"] = 10_000 }, patience);
            if (echo["bytes"]!.GetValue<int>() != 10_000) throw new InvalidOperationException($"{name}: the echo lost bytes: {echo.ToJsonString()}");
            bool direct = echo["connection"]!["direct"]!.GetValue<bool>();
            return new Run(direct ? "direct" : "relayed", punch["attempts"]!.GetValue<int>(), punch["elapsedMs"]!.GetValue<double>(),
                punch["reason"]!.GetValue<string>());
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            log.WriteLine($"{name}: run failed: {ex}");
            string firstLine = ex.Message.Split('\n')[0].Replace('|', '/');
            if (firstLine.Length > 160) firstLine = firstLine[..160] + "...";
            return new Run("failed", 0, 0, $"{ex.GetType().Name}: {firstLine}");
        }
        finally
        {
            if (dialer is not null) await dialer.DisposeAsync();
            if (listener is not null) await listener.DisposeAsync();
        }
    }

    private static string Table(IEnumerable<(string Name, List<Run> Runs)> pairs)
    {
        var table = new StringBuilder("| pair (dialer -> listener) | runs | direct | relayed | failed | DCUtR rounds of direct runs | time to direct, median / max | why relayed or failed |\n"
            + "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        foreach (var (name, results) in pairs)
        {
            var direct = results.Where(r => r.Direct).ToList();
            var times = direct.Select(r => r.ElapsedMs).Order().ToList();
            string rounds = direct.Count == 0 ? "–" : string.Join(", ", direct.GroupBy(r => r.Attempts).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"));
            string time = times.Count == 0 ? "–" : $"{times[times.Count / 2]:0} ms / {times[^1]:0} ms";
            var why = results.Where(r => !r.Direct).GroupBy(r => r.Outcome == "failed" ? "failed, " + r.Reason : r.Reason)
                .OrderByDescending(g => g.Count()).Select(g => $"{g.Key}: {g.Count()}");
            table.Append($"| {name.Replace("->", " -> ", StringComparison.Ordinal)} | {results.Count} | {direct.Count} | "
                + $"{results.Count(r => r.Outcome == "relayed")} | {results.Count(r => r.Outcome == "failed")} | {rounds} | {time} | {string.Join(", ", why)} |\n");
        }
        return table.ToString();
    }
}
