using System.Globalization;
using System.Text;
using System.Text.Json;
using static P2PStack.Benchmarks.Stack.Stats;

namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// <c>stack all</c>: every connection-stack measurement in one session, each client and server in its own process,
/// then markdown tables on stdout (progress on stderr). Options: <c>--js-dir</c> (interop/js), <c>--bytes</c> (1G,
/// our pair and raw TCP), <c>--js-bytes</c> (256M, pairs with a js end), <c>--runs</c> (3), <c>--connects</c> (200),
/// <c>--handshakes</c> (200), <c>--connections</c> (1000), <c>--parts</c> (throughput,connect,handshake,memory),
/// <c>--out</c> (directory for the raw JSON results).
/// </summary>
internal static class StackSuite
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(20);
    private static readonly string[] Suites = ["noise", "mlkem512", "mlkem768", "mlkem1024"];

    public static async Task<int> RunAsync(StackArgs args)
    {
        string jsDir = Path.GetFullPath(args.String("js-dir", "interop/js"));
        long bytes = args.Bytes("bytes", 1L << 30);
        long jsBytes = args.Bytes("js-bytes", 256L << 20);
        int runs = args.Int("runs", 3);
        int connects = args.Int("connects", 200);
        int handshakes = args.Int("handshakes", 200);
        int connections = args.Int("connections", 1000);
        var parts = args.String("parts", "throughput,connect,handshake,memory").Split(',').ToHashSet(StringComparer.Ordinal);
        string? outDir = args.String("out", "") is { Length: > 0 } o ? o : null;
        if (outDir is not null) Directory.CreateDirectory(outDir);

        var node = Path.Combine(jsDir, "node_modules", ".bin", "node");
        if (!File.Exists(node)) throw new FileNotFoundException($"run `npm ci` in {jsDir} first", node);
        var suite = new Runner(node, Path.Combine(jsDir, "bench-node.mjs"), outDir);
        var report = new StringBuilder();

        await using var csServer = ChildProcess.Start(suite.Self, [.. suite.SelfArgs, "serve"]);
        await using var jsServer = ChildProcess.Start(node, [suite.JsScript, "serve"]);
        string csAddr = (await csServer.WaitForLineAsync("LISTEN ", StartTimeout))["LISTEN ".Length..];
        string jsAddr = JsonDocument.Parse(await jsServer.WaitForLineAsync("{\"event\":\"ready\"", StartTimeout))
            .RootElement.GetProperty("addresses")[0].GetString()!;

        if (parts.Contains("throughput"))
            await ThroughputAsync(suite, report, (csAddr, csServer.Id), (jsAddr, jsServer.Id), bytes, jsBytes, runs);
        if (parts.Contains("connect"))
            await ConnectAsync(suite, report, csAddr, jsAddr, connects);
        if (parts.Contains("handshake"))
            await HandshakeAsync(suite, report, handshakes);
        if (parts.Contains("memory"))
            await MemoryAsync(suite, report, connections);

        Console.Write(report.ToString());
        return 0;
    }

    private static async Task ThroughputAsync(Runner r, StringBuilder report, (string Addr, int Pid) cs, (string Addr, int Pid) js,
        long bytes, long jsBytes, int runs)
    {
        string load = Load();
        JsonElement raw;
        await using (var rawServer = ChildProcess.Start(r.Self, [.. r.SelfArgs, "raw-serve"]))
        {
            string port = (await rawServer.WaitForLineAsync("LISTEN ", StartTimeout))["LISTEN ".Length..];
            raw = await r.SelfAsync("raw-tcp", "raw-perf", "--port", port, "--bytes", $"{bytes}", "--runs", $"{runs}", "--server-pid", $"{rawServer.Id}");
        }
        var csCs = await r.SelfAsync("perf-cs-cs", "perf", "--addr", cs.Addr, "--bytes", $"{bytes}", "--runs", $"{runs}", "--server-pid", $"{cs.Pid}");
        var csJs = await r.SelfAsync("perf-cs-js", "perf", "--addr", js.Addr, "--bytes", $"{jsBytes}", "--runs", $"{runs}", "--server-pid", $"{js.Pid}");
        var jsCs = await r.JsAsync("perf-js-cs", "perf", "--addr", cs.Addr, "--bytes", $"{jsBytes}", "--runs", $"{runs}", "--server-pid", $"{cs.Pid}");
        var jsJs = await r.JsAsync("perf-js-js", "perf", "--addr", js.Addr, "--bytes", $"{jsBytes}", "--runs", $"{runs}", "--server-pid", $"{js.Pid}");

        report.AppendLine(CultureInfo.InvariantCulture, $"### Single-stream throughput (MiB/s, median (min–max) of {runs} runs per direction)");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average before: {load}; after: {Load()}.");
        report.AppendLine();
        report.AppendLine("| client → server | stack | volume per run | upload | download | CPU s per GiB: client + server |");
        report.AppendLine("|---|---|---:|---:|---:|---:|");
        void Row(string pair, string stack, JsonElement e)
        {
            double client = e.GetProperty("clientCpuPerGiB").GetDouble(), server = e.GetProperty("serverCpuPerGiB").GetDouble();
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {pair} | {stack} | {e.GetProperty("bytes").GetInt64() >> 20} MiB | {MedianRange(StackJson.Doubles(e, "upload"))} | {MedianRange(StackJson.Doubles(e, "download"))} | {F(client, 2)} + {F(server, 2)} = {F(client + server, 2)} |");
        }
        Row("raw TCP (ceiling)", "plain socket, no security, no muxer", raw);
        Row("C# → C#", "TCP + Noise + Yamux", csCs);
        Row("C# → js", "TCP + Noise + Yamux", csJs);
        Row("js → C#", "TCP + Noise + Yamux", jsCs);
        Row("js → js (reference)", "TCP + Noise + Yamux", jsJs);
        report.AppendLine();
        foreach (var direction in new[] { "upload", "download" })
        {
            double ours = Median(StackJson.Doubles(csCs, direction));
            double reference = Median(StackJson.Doubles(jsJs, direction));
            double ceiling = Median(StackJson.Doubles(raw, direction));
            report.AppendLine(CultureInfo.InvariantCulture,
                $"- {direction}: C# → C# = {F(ours / reference, 2)}× js → js (target ≥ 2×: {(ours >= 2 * reference ? "met" : "not met")}), {F(100 * ours / ceiling, 0)}% of raw TCP (target ≥ 40%: {(ours >= 0.4 * ceiling ? "met" : "not met")}).");
        }
        static double Cpu(JsonElement e) => e.GetProperty("clientCpuPerGiB").GetDouble() + e.GetProperty("serverCpuPerGiB").GetDouble();
        report.AppendLine(CultureInfo.InvariantCulture,
            $"- CPU cost per GiB (both ends): C# → C# {F(Cpu(csCs), 2)} s, js → js {F(Cpu(jsJs), 2)} s ({F(Cpu(jsJs) / Cpu(csCs), 1)}× ours), raw TCP {F(Cpu(raw), 2)} s ({F(100 * Cpu(raw) / Cpu(csCs), 0)}% of ours).");
        report.AppendLine();
    }

    private static async Task ConnectAsync(Runner r, StringBuilder report, string csAddr, string jsAddr, int count)
    {
        string load = Load();
        var rows = new List<(string Pair, JsonElement Result)>();
        var ours = await r.SelfAsync("connect-cs-cs", "connect", "--addr", csAddr, "--count", $"{count}", "--suites", string.Join(',', Suites));
        foreach (var suite in ours.GetProperty("suites").EnumerateArray()) rows.Add(("C# → C#", suite));
        var csJs = await r.SelfAsync("connect-cs-js", "connect", "--addr", jsAddr, "--count", $"{count}", "--suites", "noise");
        rows.Add(("C# → js", csJs.GetProperty("suites")[0]));
        rows.Add(("js → C#", await r.JsAsync("connect-js-cs", "connect", "--addr", csAddr, "--count", $"{count}")));
        rows.Add(("js → js (reference)", await r.JsAsync("connect-js-js", "connect", "--addr", jsAddr, "--count", $"{count}")));

        report.AppendLine(CultureInfo.InvariantCulture, $"### Connection establishment (ms, median (p10–p90) of {count} new connections per row; our suites take turns)");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average before: {load}; after: {Load()}.");
        report.AppendLine();
        report.AppendLine("| client → server | security | dial (connection ready) | dial to first ping completed |");
        report.AppendLine("|---|---|---:|---:|");
        foreach (var (pair, e) in rows)
        {
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {pair} | `{e.GetProperty("security").GetString()}` | {MedianP10P90(StackJson.Doubles(e, "dialMs"))} | {MedianP10P90(StackJson.Doubles(e, "pingMs"))} |");
        }
        report.AppendLine();
    }

    private static async Task HandshakeAsync(Runner r, StringBuilder report, int count)
    {
        string load = Load();
        var result = await r.SelfAsync("handshake", "handshake", "--count", $"{count}");
        var suites = result.GetProperty("suites").EnumerateArray().ToArray();
        double classical = Median(StackJson.Doubles(suites[0], "handshakeMs"));

        report.AppendLine(CultureInfo.InvariantCulture, $"### Security handshake alone (ms, median (p10–p90) of {count} per suite; suites take turns; both ends in one process, loopback TCP)");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average before: {load}; after: {Load()}.");
        report.AppendLine();
        report.AppendLine("| security | handshake | median − `/noise` | ÷ `/noise` |");
        report.AppendLine("|---|---:|---:|---:|");
        foreach (var e in suites)
        {
            var samples = StackJson.Doubles(e, "handshakeMs");
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| `{e.GetProperty("security").GetString()}` | {MedianP10P90(samples, 3)} | {F(Median(samples) - classical, 3)} | {F(Median(samples) / classical, 2)} |");
        }
        report.AppendLine();
    }

    private static async Task MemoryAsync(Runner r, StringBuilder report, int connections)
    {
        string load = Load();
        var ours = await r.SelfAsync("memory-cs", "memory", "--connections", $"{connections}");
        var js = await r.JsAsync("memory-js", ["--expose-gc"], "memory", "--connections", $"{connections}");
        static string KiB(JsonElement e, string name) => F(e.GetProperty(name).GetDouble() / 1024, 1);

        report.AppendLine(CultureInfo.InvariantCulture, $"### Memory per idle connection ({connections} connections, both ends in one process, KiB per connection)");
        report.AppendLine();
        report.AppendLine(CultureInfo.InvariantCulture, $"Load average before: {load}; after: {Load()}.");
        report.AppendLine();
        report.AppendLine("| stack | managed / JS heap | process (working set / RSS) |");
        report.AppendLine("|---|---:|---:|");
        report.AppendLine(CultureInfo.InvariantCulture, $"| ours (.NET) | {KiB(ours, "managedBytesPerConnection")} | {KiB(ours, "workingSetBytesPerConnection")} |");
        report.AppendLine(CultureInfo.InvariantCulture, $"| js-libp2p (reference) | {KiB(js, "heapBytesPerConnection")} (+ {KiB(js, "externalBytesPerConnection")} external) | {KiB(js, "rssBytesPerConnection")} |");
        report.AppendLine();
    }

    private static string Load() => File.Exists("/proc/loadavg")
        ? string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3))
        : "n/a";

    /// <summary>Starts measuring processes (this program again, or node with bench-node.mjs) and collects results.</summary>
    private sealed class Runner
    {
        private readonly string _node;
        private readonly string? _outDir;

        public Runner(string node, string jsScript, string? outDir)
        {
            _node = node;
            JsScript = jsScript;
            _outDir = outDir;
            Self = Environment.ProcessPath!;
            SelfArgs = Path.GetFileNameWithoutExtension(Self) == "dotnet"
                ? [typeof(StackSuite).Assembly.Location, "stack"]
                : ["stack"];
        }

        public string Self { get; }

        public string[] SelfArgs { get; }

        public string JsScript { get; }

        public Task<JsonElement> SelfAsync(string name, params string[] args) => RunAsync(name, Self, [.. SelfArgs, .. args]);

        public Task<JsonElement> JsAsync(string name, params string[] args) => JsAsync(name, [], args);

        public Task<JsonElement> JsAsync(string name, string[] nodeOptions, params string[] args) =>
            RunAsync(name, _node, [.. nodeOptions, JsScript, .. args]);

        private async Task<JsonElement> RunAsync(string name, string file, string[] args)
        {
            Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {name} (load {Load()})");
            await using var child = ChildProcess.Start(file, args);
            string line = await child.WaitForResultAsync(RunTimeout);
            if (_outDir is not null) await File.WriteAllTextAsync(Path.Combine(_outDir, name + ".json"), line + "\n");
            return JsonDocument.Parse(line).RootElement.Clone();
        }
    }
}
