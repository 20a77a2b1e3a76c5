using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using static P2PStack.Benchmarks.Stack.Stats;

namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// <c>stack node-all</c>: the stack as a user sees it, in one session. Raw loopback TCP (the ceiling), two started
/// <c>synaptic-mesh</c> nodes measured through <c>p2p perf</c> (every feature of a default node on), and two
/// js-libp2p nodes with the same perf protocol; then connection setup (dial to first ping) node → node, node → js
/// and js → js, beside the anchor of the connection-stack section measured in the same run: two benchmark hosts
/// (<c>stack serve</c> / <c>stack connect</c>, TCP + the nodes' Noise suite + Yamux + ping, nothing else) in two
/// processes, timed in the dialing process as the node times its dials. Prints markdown (tables and the node/raw,
/// node/js and node/stack ratios) on stdout, progress on stderr.
/// Options: <c>--mesh</c> (synaptic-mesh.dll), <c>--js-dir</c> (interop/js), <c>--bytes</c> (2G per run),
/// <c>--runs</c> (5 per direction), <c>--connects</c> (200), <c>--connect-warmup</c> (500 per row),
/// <c>--connect-settle</c> (2,500 more dials before the settled node → node and anchor rows; 0: no settled rows),
/// <c>--parts</c> (throughput,connect), <c>--out</c>.
/// </summary>
internal static class NodeSuite
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(20);
    private const long WarmupBytes = 64L << 20;

    public static async Task<int> RunAsync(StackArgs args)
    {
        string mesh = Path.GetFullPath(args.String("mesh", "artifacts/bin/SynapticMesh/release/synaptic-mesh.dll"));
        string jsDir = Path.GetFullPath(args.String("js-dir", "interop/js"));
        long bytes = args.Bytes("bytes", 2L << 30);
        int runs = args.Int("runs", 5);
        int connects = args.Int("connects", 200);
        // A node process has much more code than a benchmark host to bring to its optimised tier: after 50 dials its
        // samples still had the JIT compiler at a third of the CPU; the benchmark hosts still tier up after 600 (docs/benchmarks.md).
        int connectWarmup = args.Int("connect-warmup", 500);
        // The JIT's tier-up of the connection path lasts well beyond 500 dials on a busy node (docs/benchmarks.md,
        // "Connection setup, second pass"): the settled rows are measured after this many more.
        int connectSettle = args.Int("connect-settle", 2500);
        var parts = args.String("parts", "throughput,connect").Split(',').ToHashSet(StringComparer.Ordinal);
        string? outDir = args.String("out", "") is { Length: > 0 } o ? o : null;
        if (outDir is not null) Directory.CreateDirectory(outDir);
        if (!File.Exists(mesh)) throw new FileNotFoundException("build src/Node/SynapticMesh (Release) first", mesh);
        string node = Path.Combine(jsDir, "node_modules", ".bin", "node");
        if (!File.Exists(node)) throw new FileNotFoundException($"run `npm ci` in {jsDir} first", node);
        string jsScript = Path.Combine(jsDir, "bench-node.mjs");
        string self = Environment.ProcessPath!;
        string[] selfArgs = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [typeof(NodeSuite).Assembly.Location, "stack"] : ["stack"];

        string homes = Path.Combine(Path.GetTempPath(), $"p2p-node-bench-{Guid.NewGuid():N}"[..32]);
        var report = new StringBuilder();
        try
        {
            var a = await MeshNode.StartAsync(mesh, Path.Combine(homes, "a"), bytes);
            await using (a)
            {
                var b = await MeshNode.StartAsync(mesh, Path.Combine(homes, "b"), bytes);
                await using (b)
                {
                    await a.SetupAsync(b.Address, 0); // connects once: the security protocol the nodes negotiate
                    await using var jsServer = ChildProcess.Start(node, [jsScript, "serve"]);
                    string jsAddr = JsonDocument.Parse(await jsServer.WaitForLineAsync("{\"event\":\"ready\"", StartTimeout))
                        .RootElement.GetProperty("addresses")[0].GetString()!;
                    report.AppendLine(CultureInfo.InvariantCulture,
                        $"Nodes: `synaptic-mesh p2p start` (defaults of `p2p init --listen /ip4/127.0.0.1/tcp/0`; security `{a.Security}`), js-libp2p from `interop/js/bench-node.mjs`.");
                    report.AppendLine();
                    if (parts.Contains("throughput"))
                        await ThroughputAsync(report, outDir, self, selfArgs, node, jsScript, a, b, (jsAddr, jsServer.Id), bytes, runs);
                    if (parts.Contains("connect"))
                        await ConnectAsync(report, outDir, self, selfArgs, node, jsScript, a, b, jsAddr, connects, connectWarmup, connectSettle);
                }
            }
        }
        finally
        {
            try
            {
                Directory.Delete(homes, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        Console.Write(report.ToString());
        return 0;
    }

    private static async Task ThroughputAsync(StringBuilder report, string? outDir, string self, string[] selfArgs, string node,
        string jsScript, MeshNode a, MeshNode b, (string Addr, int Pid) js, long bytes, int runs)
    {
        string load = Load();
        JsonElement raw;
        await using (var rawServer = ChildProcess.Start(self, [.. selfArgs, "raw-serve"]))
        {
            string port = (await rawServer.WaitForLineAsync("LISTEN ", StartTimeout))["LISTEN ".Length..];
            raw = await RunAsync(outDir, "raw-tcp", self, [.. selfArgs, "raw-perf", "--port", port, "--bytes", $"{bytes}", "--runs", $"{runs}", "--server-pid", $"{rawServer.Id}"]);
        }

        Progress("node-node perf");
        await a.PerfAsync(b.Address, WarmupBytes, 0);
        await a.PerfAsync(b.Address, 0, WarmupBytes);
        var up = new List<double>();
        var down = new List<double>();
        double cpu0 = a.CpuSeconds() + b.CpuSeconds(), client0 = a.CpuSeconds();
        for (int i = 0; i < runs; i++)
        {
            up.Add(await a.PerfAsync(b.Address, bytes, 0));
            down.Add(await a.PerfAsync(b.Address, 0, bytes));
        }
        double gib = 2.0 * runs * bytes / (1L << 30);
        double nodeClientCpu = (a.CpuSeconds() - client0) / gib, nodeServerCpu = (a.CpuSeconds() + b.CpuSeconds() - cpu0) / gib - nodeClientCpu;
        var nodes = JsonSerializer.SerializeToElement(new { bytes, runs, upload = up, download = down, clientCpuPerGiB = nodeClientCpu, serverCpuPerGiB = nodeServerCpu });
        if (outDir is not null) await File.WriteAllTextAsync(Path.Combine(outDir, "perf-node-node.json"), nodes.GetRawText() + "\n");

        var jsJs = await RunAsync(outDir, "perf-js-js", node, [jsScript, "perf", "--addr", js.Addr, "--bytes", $"{bytes}", "--runs", $"{runs}", "--server-pid", $"{js.Pid}"]);

        report.AppendLine(CultureInfo.InvariantCulture,
            $"#### Single-stream throughput (MiB/s, median (min–max) of {runs} runs of {bytes >> 20} MiB per direction)");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average before: {load}; after: {Load()}.");
        report.AppendLine();
        report.AppendLine("| client → server | stack | upload | download | spread (max−min)/median up / down | CPU s per GiB: client + server |");
        report.AppendLine("|---|---|---:|---:|---:|---:|");
        void Row(string pair, string stack, JsonElement e)
        {
            var u = StackJson.Doubles(e, "upload");
            var d = StackJson.Doubles(e, "download");
            double client = e.GetProperty("clientCpuPerGiB").GetDouble(), server = e.GetProperty("serverCpuPerGiB").GetDouble();
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {pair} | {stack} | {MedianRange(u)} | {MedianRange(d)} | {F(100 * Spread(u), 0)}% / {F(100 * Spread(d), 0)}% | {F(client, 2)} + {F(server, 2)} = {F(client + server, 2)} |");
        }
        Row("raw TCP (ceiling)", "plain socket pair, 64 KiB writes", raw);
        Row("node → node", $"`synaptic-mesh p2p perf`, TCP + `{a.Security}` + Yamux", nodes);
        Row("js → js (reference)", "js-libp2p 3.3, TCP + Noise + Yamux", jsJs);
        report.AppendLine();
        foreach (var direction in new[] { "upload", "download" })
        {
            double ours = Median(StackJson.Doubles(nodes, direction));
            double ceiling = Median(StackJson.Doubles(raw, direction));
            double reference = Median(StackJson.Doubles(jsJs, direction));
            report.AppendLine(CultureInfo.InvariantCulture,
                $"- {direction}: node/raw = {F(100 * ours / ceiling, 0)}% (target ≥ 50%: {(ours >= 0.5 * ceiling ? "met" : "not met")}), " +
                $"node/js = {F(ours / reference, 2)}× (target ≥ 3×: {(ours >= 3 * reference ? "met" : "not met")}); " +
                $"{F(ours * 8 * 1.048576 / 1000, 2)} Gbit/s against {F(ceiling * 8 * 1.048576 / 1000, 2)} raw and {F(reference * 8 * 1.048576 / 1000, 2)} js.");
        }
        report.AppendLine();
    }

    private static async Task ConnectAsync(StringBuilder report, string? outDir, string self, string[] selfArgs, string node,
        string jsScript, MeshNode a, MeshNode b, string jsAddr, int count, int warmup, int settle)
    {
        string load = Load();
        Progress("node-node connect");
        // The warm-up dials are timed too: what a fresh node pays while the JIT compiles its connection path.
        var (warming, warmingCpu) = await MeasuredAsync(a, b, () => a.WarmUpAsync(b.Address, warmup));
        JsonElement nodeNode = default;
        var (_, freshCpu) = await MeasuredAsync(a, b, async () => [nodeNode = await a.SetupAsync(b.Address, count)]);
        string security = nodeNode.GetProperty("securityProtocol").GetString()!;
        JsonElement settled = default;
        double settledCpu = double.NaN;
        if (settle > 0)
        {
            Progress($"node-node settle ({settle} dials)");
            await a.WarmUpAsync(b.Address, settle);
            (_, settledCpu) = await MeasuredAsync(a, b, async () => [settled = await a.SetupAsync(b.Address, count)]);
        }
        var stack = await AnchorAsync(outDir, self, selfArgs, "connect-stack-stack", security, count, warmup);
        var stackSettled = settle > 0
            ? await AnchorAsync(outDir, self, selfArgs, "connect-stack-stack-settled", security, count, warmup + count + settle)
            : default;
        Progress("node-js connect");
        await a.WarmUpAsync(jsAddr, warmup);
        var nodeJs = await a.SetupAsync(jsAddr, count);
        var jsJs = await RunAsync(outDir, "connect-js-js", node, [jsScript, "connect", "--addr", jsAddr, "--count", $"{count}", "--warmup", $"{warmup}"]);
        if (outDir is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(outDir, "connect-node-node.json"), nodeNode.GetRawText() + "\n");
            if (settle > 0) await File.WriteAllTextAsync(Path.Combine(outDir, "connect-node-node-settled.json"), settled.GetRawText() + "\n");
            await File.WriteAllTextAsync(Path.Combine(outDir, "connect-node-js.json"), nodeJs.GetRawText() + "\n");
        }

        report.AppendLine(CultureInfo.InvariantCulture,
            $"#### Connection setup (ms, median (p10–p90) of {count} new connections per row, after {warmup} warm-up ones; settled rows after {warmup + count + settle})");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average before: {load}; after: {Load()}.");
        report.AppendLine();
        report.AppendLine("| client → server | security | dials before | dial (connection ready) | dial to first ping completed | CPU per setup, both nodes (ms) |");
        report.AppendLine("|---|---|---:|---:|---:|---:|");
        report.AppendLine(CultureInfo.InvariantCulture,
            $"| node → node, the warm-up dials (fresh nodes) | `{security}` | 0 | {MedianP10P90(warming.SelectMany(w => StackJson.Doubles(w, "dialMs")).ToList())} | {MedianP10P90(warming.SelectMany(w => StackJson.Doubles(w, "setupMs")).ToList())} | {F(warmingCpu, 2)} |");
        report.AppendLine(CultureInfo.InvariantCulture,
            $"| node → node | `{security}` | {warmup} | {MedianP10P90(StackJson.Doubles(nodeNode, "dialMs"))} | {MedianP10P90(StackJson.Doubles(nodeNode, "setupMs"))} | {F(freshCpu, 2)} |");
        if (settle > 0)
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| node → node, settled | `{security}` | {warmup + count + settle} | {MedianP10P90(StackJson.Doubles(settled, "dialMs"))} | {MedianP10P90(StackJson.Doubles(settled, "setupMs"))} | {F(settledCpu, 2)} |");
        var stackSuite = stack.GetProperty("suites")[0];
        report.AppendLine(CultureInfo.InvariantCulture,
            $"| stack host → stack host (anchor) | `{stackSuite.GetProperty("security").GetString()}` | {warmup} | {MedianP10P90(StackJson.Doubles(stackSuite, "dialMs"))} | {MedianP10P90(StackJson.Doubles(stackSuite, "pingMs"))} | |");
        if (settle > 0)
        {
            var settledSuite = stackSettled.GetProperty("suites")[0];
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| stack host → stack host (anchor), settled | `{settledSuite.GetProperty("security").GetString()}` | {warmup + count + settle} | {MedianP10P90(StackJson.Doubles(settledSuite, "dialMs"))} | {MedianP10P90(StackJson.Doubles(settledSuite, "pingMs"))} | |");
        }
        report.AppendLine(CultureInfo.InvariantCulture,
            $"| node → js | `{nodeJs.GetProperty("securityProtocol").GetString()}` | {warmup} | {MedianP10P90(StackJson.Doubles(nodeJs, "dialMs"))} | {MedianP10P90(StackJson.Doubles(nodeJs, "setupMs"))} | |");
        report.AppendLine(CultureInfo.InvariantCulture,
            $"| js → js (reference) | `{jsJs.GetProperty("security").GetString()}` | {warmup} | {MedianP10P90(StackJson.Doubles(jsJs, "dialMs"))} | {MedianP10P90(StackJson.Doubles(jsJs, "pingMs"))} | |");
        report.AppendLine();
        double nn = Median(StackJson.Doubles(nodeNode, "setupMs"));
        double anchor = Median(StackJson.Doubles(stackSuite, "pingMs"));
        report.AppendLine(CultureInfo.InvariantCulture,
            $"- node → node dial to first ping after {warmup} warm-up dials: {F(nn, 2)} ms against {F(anchor, 2)} ms for the stack hosts with the same suite in this run " +
            $"(node/stack = {F(nn / anchor, 2)}×; target: no slower: {(nn <= anchor ? "met" : "not met")}); " +
            $"js → js takes {F(Median(StackJson.Doubles(jsJs, "pingMs")) / nn, 1)}× as long as node → node.");
        if (settle > 0)
        {
            double ns = Median(StackJson.Doubles(settled, "setupMs"));
            double anchorSettled = Median(StackJson.Doubles(stackSettled.GetProperty("suites")[0], "pingMs"));
            report.AppendLine(CultureInfo.InvariantCulture,
                $"- Settled (after {warmup + count + settle} dials): node → node {F(ns, 2)} ms against {F(anchorSettled, 2)} ms for the stack hosts " +
                $"(node/stack = {F(ns / anchorSettled, 2)}×: {(ns <= anchorSettled ? "met" : "not met")}).");
            nn = ns;
        }
        report.AppendLine(CultureInfo.InvariantCulture,
            $"- Against the issue's fixed 1.67 ms (the stack hosts' *dial only*, classical `/noise`, 2026-11-21, load 6.5): {F(nn, 2)} ms " +
            $"({(nn <= 1.67 ? "met" : "not met")}){(settle > 0 ? ", settled" : "")}.");
        report.AppendLine();
    }

    /// <summary>Runs <paramref name="dials"/> (requests of new connections node a makes to node b) and returns their
    /// results and both nodes' CPU time per connection, in ms, from /proc.</summary>
    private static async Task<(IReadOnlyList<JsonElement> Results, double CpuMsPerSetup)> MeasuredAsync(MeshNode a, MeshNode b,
        Func<Task<IReadOnlyList<JsonElement>>> dials)
    {
        double before = a.CpuSeconds() + b.CpuSeconds();
        var results = await dials();
        double cpu = a.CpuSeconds() + b.CpuSeconds() - before;
        int setups = results.Sum(r => StackJson.Doubles(r, "setupMs").Length);
        return (results, setups == 0 ? double.NaN : cpu * 1000 / setups);
    }

    private static async Task<JsonElement> AnchorAsync(string? outDir, string self, string[] selfArgs, string name, string security,
        int count, int warmup)
    {
        await using var stackServer = ChildProcess.Start(self, [.. selfArgs, "serve"]);
        string stackAddr = (await stackServer.WaitForLineAsync("LISTEN ", StartTimeout))["LISTEN ".Length..];
        return await RunAsync(outDir, name, self,
            [.. selfArgs, "connect", "--addr", stackAddr, "--count", $"{count}", "--warmup", $"{warmup}", "--suites", SuiteName(security)]);
    }

    /// <summary>The <c>stack connect --suites</c> name of a Noise security protocol id.</summary>
    private static string SuiteName(string security) => security switch
    {
        "/noise" => "noise",
        "/noise-mlkem512-hfs/0.1.0" => "mlkem512",
        "/noise-mlkem768-hfs/0.1.0" => "mlkem768",
        "/noise-mlkem1024-hfs/0.1.0" => "mlkem1024",
        _ => throw new InvalidOperationException($"the nodes negotiated {security}, which the stack hosts do not offer"),
    };

    private static double Spread(IReadOnlyList<double> values) => values.Count == 0 ? 0 : (values.Max() - values.Min()) / Median(values);

    private static string Load() => File.Exists("/proc/loadavg")
        ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3))
        : "n/a";

    private static void Progress(string name) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {name} (load {Load()})");

    private static async Task<JsonElement> RunAsync(string? outDir, string name, string file, string[] args)
    {
        Progress(name);
        await using var child = ChildProcess.Start(file, args);
        string line = await child.WaitForResultAsync(RunTimeout);
        if (outDir is not null) await File.WriteAllTextAsync(Path.Combine(outDir, name + ".json"), line + "\n");
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    /// <summary>A started <c>synaptic-mesh</c> node with its own home, controlled through the CLI as a user would.</summary>
    private sealed class MeshNode : IAsyncDisposable
    {
        private readonly string _mesh;
        private readonly string _home;
        private readonly ChildProcess _process;

        private MeshNode(string mesh, string home, ChildProcess process, string address, string security)
        {
            _mesh = mesh;
            _home = home;
            _process = process;
            Address = address;
            Security = security;
        }

        public string Address { get; }

        public string Security { get; private set; }

        public static async Task<MeshNode> StartAsync(string mesh, string home, long perfMaxBytes)
        {
            Directory.CreateDirectory(home);
            await CliAsync(mesh, home, "p2p", "init", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-passphrase");
            var process = ChildProcess.Start("dotnet", [mesh, "p2p", "start", "--home", home, "--json", "--perf-max-bytes", $"{perfMaxBytes}"]);
            var started = JsonDocument.Parse(await process.WaitForLineAsync("{", StartTimeout)).RootElement;
            string address = started.GetProperty("addresses").EnumerateArray().Select(e => e.GetString()!)
                .First(s => s.StartsWith("/ip4/127.0.0.1/tcp/", StringComparison.Ordinal) && !s.Contains("/ws", StringComparison.Ordinal));
            return new MeshNode(mesh, home, process, address, "");
        }

        /// <summary>One <c>p2p perf</c> run; MiB/s over the whole exchange (request to end of response).</summary>
        public async Task<double> PerfAsync(string target, long upload, long download)
        {
            var result = await CliAsync(_mesh, _home, "p2p", "perf", target, "--upload", $"{upload}", "--download", $"{download}");
            return Math.Max(upload, download) / (1024.0 * 1024.0) / result.GetProperty("seconds").GetDouble();
        }

        /// <summary><c>p2p connect --setup-samples N</c>: N new connections, each timed from the dial to the first ping.</summary>
        public async Task<JsonElement> SetupAsync(string target, int samples)
        {
            var result = await CliAsync(_mesh, _home, "p2p", "connect", target, "--setup-samples", $"{samples}");
            if (Security.Length == 0) Security = result.GetProperty("securityProtocol").GetString()!;
            return result;
        }

        /// <summary>Warm-up dials in requests of at most 1,000 (the node's limit per request); their results.</summary>
        public async Task<IReadOnlyList<JsonElement>> WarmUpAsync(string target, int samples)
        {
            var results = new List<JsonElement>();
            for (int left = samples; left > 0; left -= 1000) results.Add(await SetupAsync(target, Math.Min(left, 1000)));
            return results;
        }

        public double CpuSeconds()
        {
            string stat = File.ReadAllText($"/proc/{_process.Id}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }

        private static async Task<JsonElement> CliAsync(string mesh, string home, params string[] args)
        {
            await using var child = ChildProcess.Start("dotnet", [mesh, .. args, "--home", home, "--json"]);
            return JsonDocument.Parse(await child.WaitForOutputAsync(RunTimeout)).RootElement.Clone();
        }

        /// <summary>Stops the node as a service manager would (SIGTERM; SIGINT is ignored by processes started in the
        /// background of a non-interactive shell), then waits for it.</summary>
        public async ValueTask DisposeAsync()
        {
            using (var kill = Process.Start("kill", ["-TERM", $"{_process.Id}"])) await kill.WaitForExitAsync();
            await _process.DisposeAsync();
        }
    }
}
