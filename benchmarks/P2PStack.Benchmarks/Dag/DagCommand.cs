using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2PStack.Simulation;
using P2PStack.Simulation.Dag;

namespace P2PStack.Benchmarks.Dag;

/// <summary>
/// DAG consensus figures (docs/benchmarks.md, "DAG consensus"):
/// <c>dag sweep</c> — seeded safety/liveness runs on the in-process model, R seeds for each byzantine configuration
/// (0%, and each kind at each fraction), one JSON line per run (resumable), then a summary table;
/// <c>dag model</c> — latency and messages per decision against N on the model (no byzantine nodes);
/// <c>dag hosts</c> — the same on real hosts (memory transport, Noise, Yamux, neural envelopes).
/// </summary>
internal static class DagCommand
{
    // A run without a latency of some kind (e.g. no conflict resolved) has NaN percentiles.
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static int Run(string[] args)
    {
        return args.FirstOrDefault() switch
        {
            "sweep" => Sweep(args[1..]),
            "model" => Model(args[1..]),
            "hosts" => HostsAsync(args[1..]).GetAwaiter().GetResult(),
            "keys" => Keys(args[1..]),
            _ => Usage(),
        };
    }

    private static int Usage()
    {
        Console.Error.WriteLine("""
            usage: dag sweep [--runs R] [--first-seed F] [--nodes N] [--fractions 0,0.1,0.2] [--kinds RandomVoter,BothSides,Withholder,Equivocator]
                             [--parallel P] [--time-limit-s S] [--out FILE.jsonl] [--sign] [--alpha-preference A]
                   (seeds F..R of every configuration; F = 1 by default, so R is the runs per configuration)
                   dag model [--nodes 50,200,1000] [--seeds 1,2,3] [--sign]
                   dag hosts [--nodes 50,200] [--seed 1] [--ping-timeout-s S] [--timeout-s 300]
                   dag keys [--nodes 50] [--first-seed 1] [--runs R] [--fractions 0.1,0.2] [--kind Equivocator] [--parallel P] [--idle-poll-ms MS]
                   (the contested keys of the sweep's runs at the end, by how many byzantine authors signed on each)
            """);
        return 2;
    }

    private sealed record RunLine(string Config, int Seed, int Nodes, int Byzantine, bool Safe, bool Live, int Conflicts, int Resolved,
        double VirtuousP50, double VirtuousP99, double ContestedP50, double ContestedP99, long Messages, int Decisions, long Polls,
        int EquivocationsExpected, int EquivocationsReported, long Refused, double VirtualSeconds, double WallSeconds, string? Detail,
        double[] VirtuousMs, double[] ContestedMs, bool Signed = false);

    private static int Sweep(string[] args)
    {
        int runs = Option(args, "--runs", 1000); // the last seed
        int firstSeed = Option(args, "--first-seed", 1);
        int nodes = Option(args, "--nodes", 50);
        int parallel = Option(args, "--parallel", Environment.ProcessorCount);
        int limit = Option(args, "--time-limit-s", 30);
        var fractions = Text(args, "--fractions", "0,0.1,0.2").Split(',').Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToList();
        var kinds = Text(args, "--kinds", "RandomVoter,BothSides,Withholder,Equivocator").Split(',').Select(Enum.Parse<ByzantineKind>).ToList();
        string output = Text(args, "--out", "artifacts/benchmarks/dag-sweep.jsonl");
        bool sign = args.Contains("--sign"); // every message in a signed and verified neural envelope
        int alphaPreference = Option(args, "--alpha-preference", 0); // 0: the default (15)
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);

        var configs = new List<(string Name, double Fraction, ByzantineKind[] Kinds)>();
        foreach (var fraction in fractions)
        {
            if (fraction == 0) configs.Add(("honest", 0, []));
            else foreach (var kind in kinds) configs.Add(($"{kind} {fraction:P0}", fraction, [kind]));
        }
        // A file may hold runs of other sizes, or with(out) signed envelopes: only runs like these count as done.
        var done = new HashSet<(string, int)>();
        foreach (var r in ReadLines(output, nodes, sign)) done.Add((r.Config, r.Seed));
        var byName = configs.ToDictionary(c => c.Name);
        var work = DagSweepPlan.Remaining([.. configs.Select(c => c.Name)], firstSeed, runs, done)
            .Select(w => (w.Config, byName[w.Config].Fraction, byName[w.Config].Kinds, w.Seed)).ToList();
        Console.Error.WriteLine($"dag sweep: {configs.Count} configurations x seeds {firstSeed}-{runs}, N = {nodes}{(sign ? ", signed envelopes" : "")}; " +
            $"{work.Count} runs to go ({done.Count} done), {parallel} at a time");
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var gate = new object();
        long started = Stopwatch.GetTimestamp();
        int finished = 0;
        using (var writer = new StreamWriter(output, append: true))
        {
            Parallel.ForEach(Partitioner.Create(work, EnumerablePartitionerOptions.NoBuffering), new ParallelOptions { MaxDegreeOfParallelism = parallel }, w =>
            {
                var result = DagModel.Run(new DagModelOptions
                {
                    Nodes = nodes,
                    Seed = w.Seed,
                    ByzantineFraction = w.Fraction,
                    ByzantineKinds = w.Kinds,
                    TimeLimit = TimeSpan.FromSeconds(limit),
                    SignEnvelopes = sign,
                    Consensus = alphaPreference > 0 ? o => o.AlphaPreference = alphaPreference : null,
                });
                var line = Line(w.Config, result, sign);
                lock (gate)
                {
                    writer.WriteLine(JsonSerializer.Serialize(line, Json));
                    writer.Flush();
                    if (++finished % 50 == 0 || !result.Safe)
                        Console.Error.WriteLine($"  {finished}/{work.Count} runs, {Stopwatch.GetElapsedTime(started).TotalMinutes:F1} min" + (result.Safe ? "" : $"; UNSAFE: {result}"));
                }
            });
        }
        // Where a run's time goes: the CPU of this process per run (the wall time per run also counts waiting for a core).
        Console.Error.WriteLine($"dag sweep: {finished} runs in {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s wall, " +
            $"{(Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds:F0} s CPU");
        PrintSweep([.. ReadLines(output, nodes, sign)], configs.Select(c => c.Name).ToList(), nodes, limit, sign);
        return 0;
    }

    private static IEnumerable<RunLine> ReadLines(string path, int nodes, bool signed) => !File.Exists(path) ? [] :
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<RunLine>(l, Json)!).Where(r => r.Nodes == nodes && r.Signed == signed);

    private static RunLine Line(string config, DagModelResult r, bool signed) => new(config, r.Seed, r.Nodes, r.Byzantine, r.Safe, r.Live, r.Conflicts,
        r.ConflictsResolved, Statistics.Percentile(r.VirtuousLatenciesMs, 50), Statistics.Percentile(r.VirtuousLatenciesMs, 99),
        Statistics.Percentile(r.ConflictLatenciesMs, 50), Statistics.Percentile(r.ConflictLatenciesMs, 99), r.Messages, r.Decisions, r.Polls,
        r.EquivocationsExpected, r.EquivocationsReported, r.Refused, r.VirtualDuration.TotalSeconds, r.WallTime.TotalSeconds,
        r.Safe && r.Live ? null : r.ToString(), [.. r.VirtuousLatenciesMs.Select(v => Math.Round(v))], [.. r.ConflictLatenciesMs.Select(v => Math.Round(v))], signed);

    private static void PrintSweep(List<RunLine> lines, List<string> order, int nodes, int limit, bool signed)
    {
        if (lines.Count > 0) Console.WriteLine($"Seeds {lines.Min(l => l.Seed)}-{lines.Max(l => l.Seed)} (runs per configuration below).\n");
        Console.WriteLine($"| byzantine (N = {nodes}{(signed ? ", every message signed" : "")}) | runs | safe | virtuous accepted everywhere | conflicts resolved (within {limit} s) | virtuous p50 / p99 | conflict p50 / p99 | messages per decision | equivocations reported | CPU-free virtual time per run (mean) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---|---|---:|---:|---:|");
        foreach (var config in order)
        {
            var set = lines.Where(l => l.Config == config).ToList();
            if (set.Count == 0) continue;
            var virtuous = set.SelectMany(l => l.VirtuousMs).ToList();
            var contested = set.SelectMany(l => l.ContestedMs).ToList();
            int conflicts = set.Sum(l => l.Conflicts), resolved = set.Sum(l => l.Resolved);
            int expected = set.Sum(l => l.EquivocationsExpected), reported = set.Sum(l => l.EquivocationsReported);
            double perDecision = set.Sum(l => (double)l.Messages) / Math.Max(1, set.Sum(l => l.Decisions));
            Console.WriteLine($"| {config} | {set.Count} | {set.Count(l => l.Safe)}/{set.Count} | {set.Count(l => l.Live)}/{set.Count} | " +
                $"{resolved}/{conflicts} ({100.0 * resolved / Math.Max(1, conflicts):F1} %) | {Statistics.Percentile(virtuous, 50):F0} / {Statistics.Percentile(virtuous, 99):F0} ms | " +
                $"{Statistics.Percentile(contested, 50):F0} / {Statistics.Percentile(contested, 99):F0} ms | {perDecision:F0} | " +
                $"{(expected == 0 ? "—" : $"{reported}/{expected}")} | {set.Average(l => l.VirtualSeconds):F2} s |");
        }
        foreach (var bad in lines.Where(l => !l.Safe || !l.Live).Take(10)) Console.WriteLine($"- {bad.Config} seed {bad.Seed}: {bad.Detail}");
    }

    /// <summary>Which contested keys stay split: every key of the runs, grouped by the equivocators on it.</summary>
    private static int Keys(string[] args)
    {
        int nodes = Option(args, "--nodes", 50);
        int firstSeed = Option(args, "--first-seed", 1);
        int runs = Option(args, "--runs", 100);
        int parallel = Option(args, "--parallel", Environment.ProcessorCount);
        int limit = Option(args, "--time-limit-s", 30);
        var fractions = Text(args, "--fractions", "0.1,0.2").Split(',').Select(f => double.Parse(f, CultureInfo.InvariantCulture)).ToList();
        var kind = Enum.Parse<ByzantineKind>(Text(args, "--kind", nameof(ByzantineKind.Equivocator)));
        int idlePollMs = Option(args, "--idle-poll-ms", -1); // -1: the default IdlePollInterval; 0: never slow down
        Console.WriteLine($"| byzantine (N = {nodes}, seeds {firstSeed}-{runs}{(idlePollMs >= 0 ? $", IdlePollInterval {idlePollMs} ms" : "")}) | equivocators on the key | keys | resolved | honest nodes that accepted (mean) | distinct preferences at the end (mean) | largest preference share at the end (mean) | vertices of the key (mean) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var fraction in fractions)
        {
            var results = new ConcurrentBag<DagModelResult>();
            Parallel.ForEach(Enumerable.Range(firstSeed, runs - firstSeed + 1), new ParallelOptions { MaxDegreeOfParallelism = parallel }, seed =>
                results.Add(DagModel.Run(new DagModelOptions
                {
                    Nodes = nodes, Seed = seed, ByzantineFraction = fraction, ByzantineKinds = [kind], TimeLimit = TimeSpan.FromSeconds(limit),
                    Consensus = idlePollMs >= 0 ? o => o.IdlePollInterval = TimeSpan.FromMilliseconds(idlePollMs) : null,
                })));
            // The same runs as the sweep's: its per-run counts, to compare with its JSON lines.
            foreach (var r in results.OrderBy(r => r.Seed)) Console.Error.WriteLine($"{kind} {fraction:P0} seed {r.Seed}: resolved {r.ConflictsResolved}/{r.Conflicts}, messages {r.Messages}");
            int honest = nodes - results.First().Byzantine;
            foreach (var group in results.SelectMany(r => r.Keys ?? []).GroupBy(k => k.Equivocators).OrderBy(g => g.Key))
            {
                var keys = group.ToList();
                Console.WriteLine($"| {kind} {fraction:P0} | {group.Key} | {keys.Count} | {keys.Count(k => k.Resolved)} ({100.0 * keys.Count(k => k.Resolved) / keys.Count:F1} %) | " +
                    $"{keys.Average(k => k.Accepted):F1} of {honest} | {keys.Average(k => k.Preferences):F2} | {keys.Average(k => k.LargestShare):F1} | {keys.Average(k => k.Vertices):F1} |");
            }
        }
        return 0;
    }

    private static int Model(string[] args)
    {
        var sizes = Text(args, "--nodes", "50,200,1000").Split(',').Select(int.Parse).ToList();
        var seeds = Text(args, "--seeds", "1,2,3").Split(',').Select(int.Parse).ToList();
        bool sign = args.Contains("--sign");
        Console.WriteLine($"| N | seeds | virtuous p50 / p99 | conflict p50 / p99 | messages per decision | per node per decision | polls per decision | KiB per decision | conflicts resolved | wall s per run |");
        Console.WriteLine("|---:|---|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (int n in sizes)
        {
            var results = seeds.Select(seed =>
            {
                var r = DagModel.Run(new DagModelOptions { Nodes = n, Seed = seed, SignEnvelopes = sign, TimeLimit = TimeSpan.FromSeconds(120) });
                Console.Error.WriteLine(r);
                return r;
            }).ToList();
            var virtuous = results.SelectMany(r => r.VirtuousLatenciesMs).ToList();
            var contested = results.SelectMany(r => r.ConflictLatenciesMs).ToList();
            double decisions = results.Sum(r => r.Decisions);
            double messages = results.Sum(r => (double)r.Messages) / decisions;
            Console.WriteLine($"| {n:N0} | {string.Join(",", seeds)} | {Statistics.Percentile(virtuous, 50):F0} / {Statistics.Percentile(virtuous, 99):F0} ms | " +
                $"{Statistics.Percentile(contested, 50):F0} / {Statistics.Percentile(contested, 99):F0} ms | {messages:F0} | {messages / n:F1} | " +
                $"{results.Sum(r => (double)r.Polls) / decisions:F0} | {results.Sum(r => r.Bytes / 1024.0) / decisions:F0} | " +
                $"{results.Sum(r => r.ConflictsResolved)}/{results.Sum(r => r.Conflicts)} | {results.Average(r => r.WallTime.TotalSeconds):F1} |");
            if (results.Any(r => !r.Safe || !r.Live)) Console.WriteLine($"- not safe or not live: {string.Join("; ", results.Where(r => !r.Safe || !r.Live))}");
        }
        return 0;
    }

    private static async Task<int> HostsAsync(string[] args)
    {
        var sizes = Text(args, "--nodes", "50,200").Split(',').Select(int.Parse).ToList();
        int seed = Option(args, "--seed", 1);
        int pingTimeout = Option(args, "--ping-timeout-s", 0); // 0: yamux's default
        int timeout = Option(args, "--timeout-s", 300);
        Console.WriteLine("| N (real hosts) | virtuous p50 / p99 | conflict p50 / p99 | messages per decision | per node per decision | conflicts resolved | connections before / after | CPU s / wall s (measured phase) | set-up s |");
        Console.WriteLine("|---:|---|---|---:|---:|---:|---:|---|---:|");
        foreach (int n in sizes)
        {
            var r = await DagHostScenario.RunAsync(new DagHostScenarioOptions
            {
                Nodes = n,
                Seed = seed,
                MuxerPingTimeout = pingTimeout > 0 ? TimeSpan.FromSeconds(pingTimeout) : null,
                Timeout = TimeSpan.FromSeconds(timeout),
                Progress = line => Console.Error.WriteLine($"  N={n}: {line}"),
            }, CancellationToken.None);
            Console.Error.WriteLine(r);
            Console.WriteLine($"| {n:N0} | {Statistics.Percentile(r.VirtuousLatenciesMs, 50):F0} / {Statistics.Percentile(r.VirtuousLatenciesMs, 99):F0} ms | " +
                $"{Statistics.Percentile(r.ConflictLatenciesMs, 50):F0} / {Statistics.Percentile(r.ConflictLatenciesMs, 99):F0} ms | {r.MessagesPerDecision:F0} | " +
                $"{r.MessagesPerDecision / n:F1} | {r.ConflictsResolved}/{r.Conflicts} | {r.ConnectionsBefore:N0} / {r.Connections:N0} | {r.CpuSeconds:F1} / {r.WallSeconds:F1} | {r.SetupSeconds:F1} |");
            if (!r.Safe || !r.Live) Console.WriteLine($"- not safe or not live: {r}");
        }
        return 0;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static string Text(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
