using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using P2PStack.Interop.Support;
using P2PStack.Nat.Testing;

namespace P2PStack.Benchmarks.Nat;

/// <summary>
/// Relay throughput with and without limits: a sender on a public host echoes N bytes (the receiver sends them back)
/// with a receiver behind a cone NAT reached through a relay that enforces no limit, through a relay that enforces
/// limits far above the transfer (the accounting runs, nothing is cut), and directly with a receiver on a public host
/// (the anchor, measured in the same session). Receivers run without DCUtR so the relayed paths stay relayed.
/// </summary>
internal sealed class RelayThroughput(NetLab lab, TextWriter log, TimeSpan patience)
{
    public async Task<string> RunAsync(int bytes, int runs, TextWriter runLog, CancellationToken ct)
    {
        await using var free = await Peers.CSharpAsync(await lab.AddPublicHostAsync("rfree", ct),
            ["--listen", "/ip4/0.0.0.0/tcp/4001", "--relay-service", "--relay-limit-data", "none", "--relay-limit-seconds", "none"], ct);
        await using var limited = await Peers.CSharpAsync(await lab.AddPublicHostAsync("rlimit", ct),
            ["--listen", "/ip4/0.0.0.0/tcp/4001", "--relay-service", "--relay-limit-data", "1099511627776", "--relay-limit-seconds", "86400"], ct);
        var nat = await lab.AddNatRouterAsync("tput", NatBehaviour.EndpointIndependent, ct);
        string[] receiver = ["--listen", "/ip4/0.0.0.0/tcp/0", "--no-dcutr"];
        await using var sender = await Peers.CSharpAsync(await lab.AddPublicHostAsync("sender", ct), receiver, ct);
        await using var direct = await Peers.CSharpAsync(await lab.AddPublicHostAsync("rdirect", ct), receiver, ct);
        await using var viaFree = await Peers.CSharpAsync(await lab.AddHostBehindAsync(nat, "tfree", ct),
            [.. receiver, "--relay", free.Address().ToString()], ct);
        await using var viaLimited = await Peers.CSharpAsync(await lab.AddHostBehindAsync(nat, "tlimit", ct),
            [.. receiver, "--relay", limited.Address().ToString()], ct);

        var paths = new (string Name, JsonLinesPeer Receiver, string Address)[]
        {
            ("direct (anchor)", direct, direct.Address().ToString()),
            ("relay, no limits", viaFree, await viaFree.CircuitAddressAsync(patience, ct)),
            ("relay with limits (1 TiB, 24 h)", viaLimited, await viaLimited.CircuitAddressAsync(patience, ct)),
        };
        var table = new StringBuilder($"| path | runs | echo of {bytes / (1024.0 * 1024):0.#} MiB each way, median | MiB/s each way, median | / direct |\n| --- | --- | --- | --- | --- |\n");
        double? anchor = null;
        foreach (var (name, peer, address) in paths)
        {
            var connection = await sender.CommandAsync("dial", new JsonObject { ["addr"] = address, ["limited"] = true }, patience);
            var times = new List<double>();
            for (int i = 0; i < runs + 1; i++)
            {
                var clock = Stopwatch.StartNew();
                var echo = await sender.CommandAsync("echo", new JsonObject { ["peer"] = peer.PeerId().ToString(), ["size"] = bytes }, patience);
                double ms = clock.Elapsed.TotalMilliseconds;
                if (echo["bytes"]!.GetValue<int>() != bytes) throw new InvalidOperationException($"{name}: the echo lost bytes");
                bool relayed = echo["connection"]!["relayed"]!.GetValue<bool>();
                if (relayed != name.StartsWith("relay", StringComparison.Ordinal)) throw new InvalidOperationException($"{name}: the echo ran over the wrong path: {echo.ToJsonString()}");
                if (i == 0) continue; // warm-up (JIT, buffers)
                times.Add(ms);
                await runLog.WriteLineAsync(new JsonObject { ["path"] = name, ["run"] = i, ["bytes"] = bytes, ["ms"] = ms }.ToJsonString());
                log.WriteLine($"{name} #{i}: {ms:0} ms");
            }
            times.Sort();
            double median = times[times.Count / 2];
            double mibs = bytes / (1024.0 * 1024) / (median / 1000);
            anchor ??= mibs;
            table.Append($"| {name} | {runs} | {median:0} ms | {mibs:0.0} | {mibs / anchor.Value:0.00} |\n");
            _ = connection;
        }
        return table.ToString();
    }
}
