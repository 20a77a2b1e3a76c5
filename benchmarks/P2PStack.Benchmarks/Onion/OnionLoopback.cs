using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Simulation;

namespace P2PStack.Benchmarks.Onion;

/// <summary>
/// <c>onion-loopback [--builds 200] [--warmup-builds 1000] [--close-pause-ms 0] [--echoes 1000] [--mib 64] [--warmup-mib 32]
/// [--relay-processes [--relay-event-loop on|off] [--relay-event-threads N] [--relay-env NAME=VALUE]...] [--client-link-on-muxer-loop]
/// [--destination-on-muxer-loop] [--client-pump-on-writer]
/// [--circuit-window N --circuit-increment N --stream-window N --stream-increment N] [--perf-control FIFO --perf-phase
/// builds|transfer]</c>: three relays, a
/// client and a destination, each a full host (TCP on 127.0.0.1, Noise, yamux, the onion module with X-Wing hops and
/// 514-byte cells) in this one process, or with <c>--relay-processes</c> each relay in a process of its own (its CPU per
/// MiB then read from its process, as for Tor in <see cref="TorLoopback"/>). Measures
/// the issue's loopback targets: 3-hop circuit build time (pinned path, links already up), 1-byte echo through the
/// circuit, one-stream throughput client to destination, and process CPU per MiB; each built circuit but the last is
/// closed again (the close time is reported apart, not counted in the build); with the same client and destination
/// over a direct connection in the same run as the anchor. In one process, the CPU a circuit adds over the direct
/// connection, divided by three, estimates the CPU per MiB per relay (an upper bound: the client's and the exit's cell
/// work are in it). Warm-up builds and a warm-up transfer on each connection precede the measured ones (the tiered JIT
/// compiles the hot paths again once they are hot, in every process). With <c>--relay-processes</c> it also reports the
/// CPU time per build of each process and the context switches per MiB of each relay (all its threads, read by getrusage
/// in the relay and reported on request; threads woken: the cost of handing cells between loops and processes, which
/// other processes' load hardly changes). With <c>--perf-control</c>
/// (the control FIFO of <c>perf stat --delay=-1 --control fifo:FIFO</c>, which counts this process and its relay
/// processes) it writes <c>enable</c> before the measured builds or the measured circuit transfers (<c>--perf-phase</c>)
/// and <c>disable</c> after them, so that the counts (instructions: what the load does not change) cover only those.
/// The flow-control options
/// override the onion defaults on every node (a network parameter).
/// </summary>
public static class OnionLoopback
{
    public const string EchoProtocol = "/bench/onion-echo/1.0.0";
    public const string SinkProtocol = "/bench/onion-sink/1.0.0";

    public static int Run(string[] args)
    {
        int builds = Arg(args, "--builds", 200);
        int echoes = Arg(args, "--echoes", 1000);
        int mib = Arg(args, "--mib", 64);
        int warmup = Arg(args, "--warmup-mib", 32);
        int warmupBuilds = Arg(args, "--warmup-builds", 1000);
        ClosePause = TimeSpan.FromMilliseconds(Arg(args, "--close-pause-ms", 0));
        bool processes = args.Contains("--relay-processes");
        ClientReadsLinkOnMuxerLoop = args.Contains("--client-link-on-muxer-loop");
        DestinationReadsOnMuxerLoop = args.Contains("--destination-on-muxer-loop");
        ClientPumpOnWriter = args.Contains("--client-pump-on-writer");
        for (int i = Array.IndexOf(args, "--relay-env"); i >= 0 && i + 1 < args.Length; i = Array.IndexOf(args, "--relay-env", i + 1))
        {
            var (name, value) = args[i + 1].Split('=', 2) is [var n, var v] ? (n, v) : throw new ArgumentException($"--relay-env {args[i + 1]}: NAME=VALUE expected");
            RelayEnvironment[name] = value;
        }
        RelayEventLoop = EventLoopArg(args, "--relay-event-loop");
        RelayEventThreads = Arg(args, "--relay-event-threads", RelayEventThreadsDefault);
        var flow = Flow.Parse(args);
        int control = Array.IndexOf(args, "--perf-control");
        using var perf = control >= 0 && control + 1 < args.Length
            ? new PerfControl(args[control + 1], Array.IndexOf(args, "--perf-phase") is int phase && phase >= 0 && phase + 1 < args.Length ? args[phase + 1] : "builds")
            : null;
        Console.WriteLine(RunAsync(builds, echoes, mib, processes, warmup, warmupBuilds, flow, perf).GetAwaiter().GetResult());
        return 0;
    }

    /// <summary>Flow-control overrides (0: the onion default), handed to the relay processes as arguments.</summary>
    public sealed record Flow(int CircuitWindow, int CircuitIncrement, int StreamWindow, int StreamIncrement)
    {
        public static readonly Flow Default = new(0, 0, 0, 0);

        public static Flow Parse(string[] args) => new(Arg(args, "--circuit-window", 0), Arg(args, "--circuit-increment", 0),
            Arg(args, "--stream-window", 0), Arg(args, "--stream-increment", 0));

        public IEnumerable<string> Arguments() =>
        [
            "--circuit-window", CircuitWindow.ToString(CultureInfo.InvariantCulture),
            "--circuit-increment", CircuitIncrement.ToString(CultureInfo.InvariantCulture),
            "--stream-window", StreamWindow.ToString(CultureInfo.InvariantCulture),
            "--stream-increment", StreamIncrement.ToString(CultureInfo.InvariantCulture),
        ];

        public void Apply(FlowControlOptions options)
        {
            if (CircuitWindow > 0) options.CircuitWindow = CircuitWindow;
            if (CircuitIncrement > 0) options.CircuitSendmeIncrement = CircuitIncrement;
            if (StreamWindow > 0) options.StreamWindow = StreamWindow;
            if (StreamIncrement > 0) options.StreamSendmeIncrement = StreamIncrement;
        }

        public string Describe(FlowControlOptions defaults)
        {
            var o = new FlowControlOptions
            {
                CircuitWindow = defaults.CircuitWindow, CircuitSendmeIncrement = defaults.CircuitSendmeIncrement,
                StreamWindow = defaults.StreamWindow, StreamSendmeIncrement = defaults.StreamSendmeIncrement,
            };
            Apply(o);
            return $"circuit window {o.CircuitWindow}/{o.CircuitSendmeIncrement}, stream window {o.StreamWindow}/{o.StreamSendmeIncrement} cells";
        }
    }

    /// <summary><c>onion-relay-node</c>: one relay of <c>onion-loopback --relay-processes</c>, in its own process. Prints
    /// <c>READY &lt;peer id&gt; &lt;address&gt; &lt;signed descriptor, base64&gt;</c>, then reads <c>PEER &lt;peer id&gt;
    /// &lt;address&gt;</c> lines (addresses of the other nodes) and <c>SWITCHES</c> lines (answered with <c>SWITCHES
    /// &lt;n&gt; &lt;work items&gt; &lt;JIT ticks&gt; &lt;JIT methods&gt; &lt;gen-0 GCs&gt;</c>: its context switches so far, all
    /// threads, getrusage; its thread pool's completed work items, its JIT compiler's time and methods, its collections) until its input ends, then prints <c>CELLS
    /// &lt;relayed cells&gt;</c> and stops.</summary>
    public static int RunRelayNode(string[] args)
    {
        // First, before any socket: as `synaptic-mesh p2p start` does for a relay (--onion-relay-event-loop).
        bool eventLoop = EventLoopArg(args) && InlineSocketCompletions.TryEnable(Arg(args, "--event-threads", RelayEventThreadsDefault));
        RunRelayNodeAsync(Flow.Parse(args), eventLoop).GetAwaiter().GetResult();
        return 0;
    }

    private static async Task RunRelayNodeAsync(Flow flow, bool eventLoop)
    {
        using var exceptions = new ExceptionTally();
        await using var node = await Node.StartAsync(relay: true, flow);
        // What the runtime really does (read back, not assumed): its flag and its socket event threads.
        Console.WriteLine($"RUNTIME {eventLoop} {InlineSocketCompletions.Enabled} {InlineSocketCompletions.EventThreads()} {node.Relay.ReadsLinksOnMuxerLoop}");
        Console.WriteLine($"READY {node.Host.PeerId} {node.Address.DecapsulateCode(MultiaddrProtocols.P2P.Code)} "
            + Convert.ToBase64String(node.Relay.SignedDescriptor()));
        while (await Console.In.ReadLineAsync() is { } line)
        {
            var parts = line.Split(' ');
            if (parts is ["PEER", var peer, var address])
                node.Host.PeerStore.AddAddresses(PeerId.Parse(peer), [Multiaddr.Parse(address)], TimeSpan.FromHours(1));
            else if (parts is ["SWITCHES"])
            {
                // Only the process itself can read its total (threads that ended included): getrusage(RUSAGE_SELF).
                Console.WriteLine($"SWITCHES {OwnContextSwitches()} {ThreadPool.CompletedWorkItemCount} "
                    + $"{System.Runtime.JitInfo.GetCompilationTime().Ticks} {System.Runtime.JitInfo.GetCompiledMethodCount()} {GC.CollectionCount(0)}");
                await Console.Out.FlushAsync();
            }
        }
        Console.WriteLine($"EXCEPTIONS {exceptions}");
        Console.WriteLine($"CELLS {node.Metrics.RelayedCellsForward + node.Metrics.RelayedCellsBackward}");
    }

    /// <summary><c>--event-loop on|off</c> (a relay process) or <c>--relay-event-loop on|off</c>: whether the relays run
    /// as one event loop (inline socket completions asked for first thing, as the node does); absent: the node's
    /// default for a relay.</summary>
    private static bool EventLoopArg(string[] args, string name = "--event-loop")
    {
        int i = Array.IndexOf(args, name);
        if (i < 0 || i + 1 >= args.Length) return RelayEventLoopDefault;
        return args[i + 1] switch
        {
            "on" => true,
            "off" => false,
            var other => throw new ArgumentException($"{name} {other}: on or off expected"),
        };
    }

    /// <summary>The relay node's default (synaptic-mesh's <c>onionRelayEventLoop</c>), so that the benchmark measures
    /// what a node does unless told otherwise.</summary>
    private const bool RelayEventLoopDefault = false;

    /// <summary><c>--close-pause-ms N</c>: a pause after each circuit's close before the next build (0: none), so that the
    /// relays' ends of the closed circuit do not overlap the next build.</summary>
    private static TimeSpan ClosePause;

    /// <summary><c>--relay-event-loop</c> as given (or the node's default).</summary>
    private static bool RelayEventLoop;

    /// <summary>The relay node's default socket event threads with its event loop (synaptic-mesh's
    /// <c>onionRelayEventThreads</c>; 0: the runtime's one per core).</summary>
    private const int RelayEventThreadsDefault = 1;

    /// <summary><c>--relay-event-threads N</c> as given (or the node's default): the relays' socket event threads with
    /// their event loop (a relay process's <c>--event-threads</c>).</summary>
    private static int RelayEventThreads;

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    /// <summary>Counts the process's first-chance exceptions by type (every throw, caught or not): the close path of a
    /// circuit should throw none.</summary>
    private sealed class ExceptionTally : IDisposable
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _byType = new();

        public ExceptionTally() => AppDomain.CurrentDomain.FirstChanceException += OnException;

        // ONION_BENCH_EXCEPTION_STACKS=N: the first N throws of each type print where they came from (stderr).
        private static readonly int Stacks = int.TryParse(Environment.GetEnvironmentVariable("ONION_BENCH_EXCEPTION_STACKS"), out int n) ? n : 0;

        private void OnException(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            long count = _byType.AddOrUpdate(e.Exception.GetType().Name, 1, (_, n) => n + 1);
            if (count <= Stacks) Console.Error.WriteLine($"[{Environment.ProcessId}] {e.Exception.GetType().Name}: {e.Exception.Message}\n{Environment.StackTrace}");
        }

        public override string ToString()
        {
            var counts = _byType.ToArray(); // a snapshot: other threads may still throw
            return counts.Length == 0
                ? "0"
                : $"{counts.Sum(p => p.Value)} ({string.Join(", ", counts.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value}"))})";
        }

        public void Dispose() => AppDomain.CurrentDomain.FirstChanceException -= OnException;
    }

    /// <summary>Switches <c>perf stat</c>'s counting on and off through its control FIFO around one phase.</summary>
    public sealed class PerfControl(string fifo, string phase) : IDisposable
    {
        private readonly StreamWriter _writer = new(new FileStream(fifo, FileMode.Open, FileAccess.Write)) { AutoFlush = true };

        public string Phase { get; } = phase;

        public void Set(string phase, bool on)
        {
            if (phase == Phase) _writer.WriteLine(on ? "enable" : "disable");
        }

        public void Dispose() => _writer.Dispose();
    }

    public static async Task<string> RunAsync(int builds, int echoes, int mib, bool relayProcesses = false, int warmupMib = 32,
        int warmupBuilds = 1000, Flow? flow = null, PerfControl? perf = null)
    {
        flow ??= Flow.Default;
        using var exceptions = new ExceptionTally();
        var nodes = new List<Node>();
        var relays = new List<IRelayNode>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                if (relayProcesses)
                {
                    relays.Add(await RelayProcess.StartAsync(flow));
                    continue;
                }
                var node = await Node.StartAsync(relay: true, flow);
                nodes.Add(node);
                relays.Add(node);
            }
            var destination = await Node.StartAsync(relay: false, flow);
            var client = await Node.StartAsync(relay: false, flow);
            nodes.Add(destination);
            nodes.Add(client);
            foreach (var relay in relays) client.Client.Directory.TryAdd(relay.SignedDescriptor);
            var everyone = relays.Select(r => (r.PeerId, r.Address)).Concat(nodes.OfType<IRelayNode>().Select(n => (n.PeerId, n.Address)))
                .Concat([(destination.Host.PeerId, destination.Address.DecapsulateCode(MultiaddrProtocols.P2P.Code)),
                    (client.Host.PeerId, client.Address.DecapsulateCode(MultiaddrProtocols.P2P.Code))])
                .Distinct().ToList();
            foreach (var node in nodes)
                foreach (var (peer, address) in everyone)
                    if (peer != node.Host.PeerId) node.Host.PeerStore.AddAddresses(peer, [address], TimeSpan.FromHours(1));
            foreach (var relay in relays.OfType<RelayProcess>())
                foreach (var (peer, address) in everyone)
                    if (peer != relay.PeerId) await relay.AddPeerAsync(peer, address);
            var path = new CircuitRequest { Pinned = [.. relays.Select(r => r.PeerId)], Hops = 3, Destination = destination.Host.PeerId };
            var report = new System.Text.StringBuilder();
            report.AppendLine(relayProcesses
                ? $"onion loopback: 3 relays in 3 processes of their own, client and destination in this one, on 127.0.0.1 TCP; "
                    + $"{Environment.ProcessorCount} cores; 1-min load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; "
                    + $"thread-pool spin limit (all processes) {Environment.GetEnvironmentVariable(SpinLimitVariable) ?? "the runtime's default"}"
                    + $"; relays as event loops (--relay-event-loop) {(RelayEventLoop ? $"on, socket event threads asked for (--relay-event-threads) {RelayEventThreads}" : "off")}"
                    + $"; client pump on writer (--client-pump-on-writer) {(ClientPumpOnWriter ? "on" : "off")}"
                    + (RelayEnvironment.Count > 0 ? "; relay processes only: " + string.Join(" ", RelayEnvironment.Select(e => $"{e.Key}={e.Value}")) : "")
                : $"onion loopback: 3 relays, client, destination in one process on 127.0.0.1 TCP; {Environment.ProcessorCount} cores; "
                    + $"1-min load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            report.AppendLine(flow.Describe(new FlowControlOptions()));
            foreach (var (relay, i) in relays.OfType<RelayProcess>().Select((r, i) => (r, i)))
                report.AppendLine($"relay {i + 1} runtime: {relay.Runtime}");

            // Builds: the first ones open the links (client - relay 1 - relay 2 - relay 3), then a pinned path over them.
            // The warm-up builds also let the tiered JIT recompile the build path in every process: in the first
            // hundreds of builds it runs unoptimised code and compiles in the background on the same two cores (300 were not
            // always enough under load; 1000 were).
            var buildMs = new List<double>();
            var closeMs = new List<double>();
            var phases = new SortedDictionary<string, List<double>>(StringComparer.Ordinal);
            string last = "";
            TimeSpan buildCpuBefore = default;
            TimeSpan[] relayBuildCpuBefore = [];
            long[] relayBuildSwitchesBefore = [];
            for (int i = 0; i < builds + warmupBuilds; i++)
            {
                if (i == warmupBuilds)
                {
                    buildCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                    relayBuildCpuBefore = [.. relays.OfType<RelayProcess>().Select(r => r.CpuTime())];
                    relayBuildSwitchesBefore = await RelaySwitchesAsync(relays);
                    perf?.Set("builds", true);
                }
                // A guard, not a measurement: a build or close that does not end fails the run.
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
                var info = await client.Client.BuildCircuitAsync(path, timeout.Token);
                if (i >= warmupBuilds)
                {
                    buildMs.Add(info.BuildTime.TotalMilliseconds);
                    foreach (var (hop, phase, time) in client.Client.Find(info.Id)?.BuildPhases ?? [])
                    {
                        var key = $"hop {hop}: {phase}";
                        if (!phases.TryGetValue(key, out var list)) phases[key] = list = [];
                        list.Add(time.TotalMilliseconds);
                    }
                }
                last = info.Id;
                if (i == builds + warmupBuilds - 1) break; // the last one carries the echo and throughput runs
                long closing = Stopwatch.GetTimestamp();
                if (!await client.Client.CloseCircuitAsync(info.Id, timeout.Token)) throw new InvalidOperationException($"circuit {info.Id} was not open");
                if (i >= warmupBuilds) closeMs.Add(Stopwatch.GetElapsedTime(closing).TotalMilliseconds);
                if (ClosePause > TimeSpan.Zero) await Task.Delay(ClosePause); // the relays' ends of this circuit done before the next build
            }
            perf?.Set("builds", false);
            var buildCpu = (Process.GetCurrentProcess().TotalProcessorTime - buildCpuBefore).TotalMilliseconds / builds;
            var relayBuildCpu = relays.OfType<RelayProcess>().Select((r, i) => (r.CpuTime() - relayBuildCpuBefore[i]).TotalMilliseconds / builds).ToArray();
            // Threads woken per build and close in each relay: the hand-offs of its build path, which the load hardly changes.
            var relayBuildSwitches = (await RelaySwitchesAsync(relays)).Select((after, i) => (after - relayBuildSwitchesBefore[i]) / (double)builds).ToArray();
            report.AppendLine($"3-hop build (ms, {builds} after {warmupBuilds} warm-up"
                + (ClosePause > TimeSpan.Zero ? $", {ClosePause.TotalMilliseconds} ms pause after each close" : "") + $"): p50 {P(buildMs, 50)}, p10 {P(buildMs, 10)}, p90 {P(buildMs, 90)}");
            report.AppendLine("build phases at the client (ms, p50 / p90; a wait includes the relays' work and the round trip): "
                + string.Join("; ", phases.Select(p => $"{p.Key} {P(p.Value, 50)} / {P(p.Value, 90)}")));
            if (relayProcesses)
                report.AppendLine($"CPU per build and close (ms): this process (client) {buildCpu:F3}, relays (guard, middle, exit) "
                    + string.Join(", ", relayBuildCpu.Select(v => v.ToString("F3", CultureInfo.InvariantCulture)))
                    + "; context switches per build and close, relays (all threads, getrusage in each relay) "
                    + string.Join(", ", relayBuildSwitches.Select(v => v.ToString("F1", CultureInfo.InvariantCulture))));
            report.AppendLine($"close after the build (ms, {closeMs.Count}; DESTROY sent, link closed, reader ended): p50 {P(closeMs, 50)}, "
                + $"p10 {P(closeMs, 10)}, p90 {P(closeMs, 90)}; client circuits open after the builds: {client.Client.Circuits.Count}");

            var onion = await client.Client.ConnectAsync(destination.Host.PeerId, path, circuitId: last, cancellationToken: CancellationToken.None);
            var direct = await client.Host.DialAsync(destination.Address, new DialOptions { ForceNewConnection = true }, CancellationToken.None);
            foreach (var (name, connection) in new[] { ("circuit", onion.Connection), ("direct", direct) })
            {
                var rtt = await EchoAsync(connection, echoes);
                report.AppendLine($"{name}: 1-byte echo (ms, {echoes} after 50 warm-up): p50 {P(rtt, 50)}, p10 {P(rtt, 10)}, p90 {P(rtt, 90)}");
            }
            // Warm-up, not measured: the data path's code is compiled again by the tiered JIT once it is hot (in every relay
            // process too); without this the first transfer measures the JIT more than the circuit.
            foreach (var connection in new[] { onion.Connection, direct }) await SendAsync(connection, (long)warmupMib << 20);
            foreach (var (name, connection) in new[] { ("circuit", onion.Connection), ("direct", direct), ("circuit", onion.Connection), ("direct", direct) })
            {
                int quietWaits = await JitQuietAsync();
                var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                var relayCpuBefore = relays.OfType<RelayProcess>().Select(r => r.CpuTime()).ToArray();
                var countersBefore = await RelayCountersAsync(relays);
                long ownSwitchesBefore = OwnContextSwitches();
                long workItemsBefore = ThreadPool.CompletedWorkItemCount;
                long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                var jitBefore = System.Runtime.JitInfo.GetCompilationTime();
                long jitMethodsBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
                if (name == "circuit") perf?.Set("transfer", true);
                var watch = Stopwatch.StartNew();
                await SendAsync(connection, (long)mib << 20);
                watch.Stop();
                if (name == "circuit") perf?.Set("transfer", false);
                var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
                // What this process's CPU per MiB holds besides the data path: the JIT compiler still at work (tiering
                // up the hot paths), and the data path's own allocations and thread hand-offs.
                var jit = System.Runtime.JitInfo.GetCompilationTime() - jitBefore;
                long jitMethods = System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethodsBefore;
                double allocatedPerMib = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)mib;
                long ownSwitches = (OwnContextSwitches() - ownSwitchesBefore) / mib;
                long workItems = (ThreadPool.CompletedWorkItemCount - workItemsBefore) / mib;
                var perRelay = relays.OfType<RelayProcess>().Select((r, i) => (r.CpuTime() - relayCpuBefore[i]).TotalMilliseconds / mib).ToArray();
                var countersAfter = await RelayCountersAsync(relays);
                var switches = countersAfter.Select((after, i) => (after.Switches - countersBefore[i].Switches) / mib).ToArray();
                var relayWorkItems = countersAfter.Select((after, i) => ((after.WorkItems - countersBefore[i].WorkItems) / (double)mib).ToString("F1", CultureInfo.InvariantCulture));
                var relayJit = countersAfter.Select((after, i) => $"{(after.JitMs - countersBefore[i].JitMs) / mib:F2} ms ({after.JitMethods - countersBefore[i].JitMethods})");
                var relayGcs = countersAfter.Select((after, i) => after.Gen0Collections - countersBefore[i].Gen0Collections);
                report.AppendLine($"{name}: {mib} MiB on one stream in {watch.Elapsed.TotalSeconds:F2} s = {mib / watch.Elapsed.TotalSeconds:F1} MiB/s; "
                    + (relayProcesses
                        ? $"CPU per MiB: this process (client and destination) {cpu.TotalMilliseconds / mib:F1} ms "
                            + $"(JIT compiling {jit.TotalMilliseconds / mib:F2} ms, {jitMethods} methods, after {quietWaits} x 250 ms waiting for the JIT; "
                            + $"allocated {allocatedPerMib / 1024:F1} KiB; context switches per MiB {ownSwitches}, all threads; thread-pool work items per MiB {workItems})"
                            + (name == "circuit" ? $", relays (guard, middle, exit) {string.Join(", ", perRelay.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))} ms"
                                + $"; context switches per MiB, relays (all threads, getrusage in each relay) {string.Join(", ", switches)}"
                                + $"; relays' thread-pool work items per MiB {string.Join(", ", relayWorkItems)}, JIT compiling per MiB (methods) {string.Join(", ", relayJit)}, "
                                + $"gen-0 GCs {string.Join(", ", relayGcs)}" : "")
                        : $"process CPU {cpu.TotalMilliseconds / mib:F1} ms per MiB (all nodes)"));
            }
            long cells = 0;
            foreach (var relay in relays) cells += await relay.RelayedCellsAsync();
            report.AppendLine($"relayed cells (all relays): {cells}");
            if (relayProcesses)
            {
                report.AppendLine($"first-chance exceptions, whole run: this process (client and destination) {exceptions}");
                foreach (var (relay, i) in relays.OfType<RelayProcess>().Select((r, i) => (r, i)))
                    report.AppendLine($"first-chance exceptions, whole run: relay {i + 1} {relay.Exceptions}");
            }
            return report.ToString();
        }
        finally
        {
            // Bounded: the figures are printed whatever the teardown does.
            foreach (var node in nodes) await node.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var relay in relays.OfType<RelayProcess>()) relay.Dispose();
        }
    }

    /// <summary>A relay of the benchmark, in this process or in its own.</summary>
    private interface IRelayNode
    {
        PeerId PeerId { get; }

        /// <summary>Its TCP address without <c>/p2p</c>.</summary>
        Multiaddr Address { get; }

        byte[] SignedDescriptor { get; }

        /// <summary>Relayed cells so far (a relay process reports them when it stops).</summary>
        ValueTask<long> RelayedCellsAsync();
    }

    // The node sets it to 0 (src/Node/SynapticMesh/SynapticMesh.csproj); the benchmark's processes (the relay processes
    // inherit the environment) run with the runtime's default unless it is set (docs/benchmarks.md, onion eighth pass:
    // less CPU per MiB without the spinning, a slower echo).
    private const string SpinLimitVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary><c>--client-link-on-muxer-loop</c>: <see cref="OnionClientOptions.ReadLinkOnMuxerLoop"/> on at the client.</summary>
    private static bool ClientReadsLinkOnMuxerLoop;
    private static bool DestinationReadsOnMuxerLoop;

    /// <summary><c>--client-pump-on-writer</c>: <see cref="OnionClientOptions.PumpOnWriter"/> on at the client.</summary>
    private static bool ClientPumpOnWriter;

    /// <summary><c>--relay-env NAME=VALUE</c> (repeatable): set in the relay processes' environment only (for example
    /// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, which the runtime reads once, at its start).</summary>
    private static readonly SortedDictionary<string, string> RelayEnvironment = new(StringComparer.Ordinal);

    /// <summary>A relay in a process of its own (<c>onion-relay-node</c>, this same program), so that its CPU time is
    /// its own.</summary>
    private sealed class RelayProcess : IRelayNode, IDisposable
    {
        private readonly Process _process;

        private RelayProcess(Process process, PeerId peer, Multiaddr address, byte[] descriptor)
        {
            _process = process;
            PeerId = peer;
            Address = address;
            SignedDescriptor = descriptor;
        }

        public PeerId PeerId { get; }

        public Multiaddr Address { get; }

        public byte[] SignedDescriptor { get; }

        public static async Task<RelayProcess> StartAsync(Flow flow)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(typeof(OnionLoopback).Assembly.Location);
            start.ArgumentList.Add("onion-relay-node");
            start.ArgumentList.Add("--event-loop");
            start.ArgumentList.Add(RelayEventLoop ? "on" : "off");
            start.ArgumentList.Add("--event-threads");
            start.ArgumentList.Add(RelayEventThreads.ToString(CultureInfo.InvariantCulture));
            foreach (var argument in flow.Arguments()) start.ArgumentList.Add(argument);
            foreach (var (name, value) in RelayEnvironment) start.Environment[name] = value;
            var process = Process.Start(start) ?? throw new InvalidOperationException("the relay process did not start");
            try
            {
                using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2)); // a hang guard
                string runtime = "?";
                while (true)
                {
                    var line = await process.StandardOutput.ReadLineAsync(guard.Token)
                        ?? throw new InvalidOperationException($"the relay process ended before it was ready ({process.ExitCode})");
                    var parts = line.Split(' ');
                    if (parts is ["RUNTIME", _, var inline, var threads, var onLoop])
                        runtime = $"inline socket completions {inline}, socket event threads {threads}, circuit loops on the muxer's read loop {onLoop}";
                    if (parts is ["READY", var peer, var address, var descriptor])
                        return new RelayProcess(process, PeerId.Parse(peer), Multiaddr.Parse(address), Convert.FromBase64String(descriptor)) { Runtime = runtime };
                }
            }
            catch
            {
                process.Kill();
                process.Dispose();
                throw;
            }
        }

        public async Task AddPeerAsync(PeerId peer, Multiaddr address)
        {
            await _process.StandardInput.WriteLineAsync($"PEER {peer} {address}");
            await _process.StandardInput.FlushAsync();
        }

        public TimeSpan CpuTime()
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }

        /// <summary>
        /// Voluntary and involuntary context switches so far of the relay process, all its threads, those that ended
        /// included: asked of the relay itself (getrusage(RUSAGE_SELF)), since Linux keeps no per-process total another
        /// process can read (/proc/pid/status counts the main thread alone, /proc/pid/task only the threads alive). The
        /// figure includes the few switches of answering the question itself.
        /// </summary>
        public async Task<RelayCounters> ContextSwitchesAsync()
        {
            await _process.StandardInput.WriteLineAsync("SWITCHES");
            await _process.StandardInput.FlushAsync();
            using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // a hang guard
            while (await _process.StandardOutput.ReadLineAsync(guard.Token) is { } line)
            {
                if (line.StartsWith("SWITCHES ", StringComparison.Ordinal))
                {
                    long[] v = line[9..].Split(' ').Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();
                    return new RelayCounters(v[0], v[1], TimeSpan.FromTicks(v[2]).TotalMilliseconds, v[3], v[4]);
                }
            }
            throw new InvalidOperationException($"relay process {_process.Id} ended before it reported its context switches");
        }

        /// <summary>What the relay process's runtime does with its sockets, as it reported it once started.</summary>
        public string Runtime { get; private init; } = "?";

        /// <summary>The relay process's first-chance exceptions, as it reported them when it stopped.</summary>
        public string Exceptions { get; private set; } = "?";

        public async ValueTask<long> RelayedCellsAsync()
        {
            _process.StandardInput.Close();
            using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (await _process.StandardOutput.ReadLineAsync(guard.Token) is { } line)
            {
                if (line.StartsWith("EXCEPTIONS ", StringComparison.Ordinal)) Exceptions = line[11..];
                if (line.StartsWith("CELLS ", StringComparison.Ordinal)) return long.Parse(line[6..], CultureInfo.InvariantCulture);
            }
            return 0;
        }

        public void Dispose()
        {
            try
            {
                if (!_process.WaitForExit(TimeSpan.FromSeconds(10))) _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Gone already.
            }
            _process.Dispose();
        }
    }

    /// <summary>
    /// Waits (250 ms at a time, at most 5 s) until this process's JIT has compiled nothing for 250 ms; returns the waits.
    /// The tiered JIT recompiles what the previous steps called (the stream's set-up and close, this benchmark's own
    /// reading of /proc) in the background, after a delay: without the wait that lands in the next measured transfer
    /// (ninth pass: 14-24 % of the client-and-destination process's samples in the measured transfers).
    /// </summary>
    private static async Task<int> JitQuietAsync()
    {
        int waits = 0;
        long compiled;
        do
        {
            compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            await Task.Delay(250);
            waits++;
        } while (System.Runtime.JitInfo.GetCompiledMethodCount() != compiled && waits < 20);
        return waits;
    }

    /// <summary>
    /// Voluntary and involuntary context switches so far of this process's threads, those that have ended included
    /// (getrusage(RUSAGE_SELF), as benchmarks/onion-floor/chain.c reads them).
    /// </summary>
    private static long OwnContextSwitches()
    {
        // struct rusage on 64-bit Linux: two timevals (4 longs), then 14 longs; ru_nvcsw and ru_nivcsw are the last two.
        var usage = new long[18];
        if (GetRusage(RusageSelf, usage) != 0) throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        return usage[16] + usage[17];
    }

    private const int RusageSelf = 0;

    [DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern int GetRusage(int who, [Out] long[] usage);

    /// <summary>Each relay process's context switches so far (<see cref="RelayProcess.ContextSwitchesAsync"/>), in order.</summary>
    /// <summary>What a relay process counts of itself (<see cref="RelayProcess.ContextSwitchesAsync"/>).</summary>
    private readonly record struct RelayCounters(long Switches, long WorkItems, double JitMs, long JitMethods, long Gen0Collections);

    private static async Task<RelayCounters[]> RelayCountersAsync(List<IRelayNode> relays)
    {
        var switches = new List<RelayCounters>();
        foreach (var relay in relays.OfType<RelayProcess>()) switches.Add(await relay.ContextSwitchesAsync());
        return [.. switches];
    }

    private static async Task<long[]> RelaySwitchesAsync(List<IRelayNode> relays) =>
        (await RelayCountersAsync(relays)).Select(c => c.Switches).ToArray();

    private static string P(List<double> values, double p) => Statistics.Percentile(values, p).ToString("F3", CultureInfo.InvariantCulture);

    private static async Task<List<double>> EchoAsync(IConnection connection, int count)
    {
        await using var stream = await connection.OpenStreamAsync([EchoProtocol], CancellationToken.None);
        var samples = new List<double>();
        var one = new byte[] { 42 };
        for (int i = 0; i < count + 50; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await stream.Output.WriteAsync(one);
            while (true)
            {
                var result = await stream.Input.ReadAsync();
                if (result.Buffer.Length >= 1)
                {
                    stream.Input.AdvanceTo(result.Buffer.GetPosition(1));
                    break;
                }
                if (result.IsCompleted) throw new EndOfStreamException("the echo stream ended");
                stream.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
            if (i >= 50) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        await stream.Output.CompleteAsync();
        return samples;
    }

    // Writes `bytes` and waits for the destination's count of what it read: the time covers delivery, not buffering.
    private static async Task SendAsync(IConnection connection, long bytes)
    {
        await using var stream = await connection.OpenStreamAsync([SinkProtocol], CancellationToken.None);
        var chunk = new byte[64 * 1024];
        for (long sent = 0; sent < bytes; sent += chunk.Length)
            await stream.Output.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - sent)));
        await stream.Output.CompleteAsync();
        while (true)
        {
            var result = await stream.Input.ReadAsync();
            if (result.Buffer.Length >= 8)
            {
                Span<byte> count = stackalloc byte[8];
                result.Buffer.Slice(0, 8).CopyTo(count);
                stream.Input.AdvanceTo(result.Buffer.End);
                if (BinaryPrimitives.ReadInt64BigEndian(count) != bytes) throw new InvalidOperationException("the sink read a different count");
                return;
            }
            if (result.IsCompleted) throw new EndOfStreamException("the sink stream ended early");
            stream.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Echoes every byte back.</summary>
    public sealed class EchoHandler : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols { get; } = [EchoProtocol];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                while (true)
                {
                    var result = await stream.Input.ReadAsync(cancellationToken);
                    foreach (var segment in result.Buffer) await stream.Output.WriteAsync(segment, cancellationToken);
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
                await stream.Output.CompleteAsync();
            }
        }
    }

    /// <summary>Reads to the end, then answers with the count of bytes read (8 bytes, big-endian).</summary>
    public sealed class SinkHandler : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols { get; } = [SinkProtocol];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                long total = 0;
                while (true)
                {
                    var result = await stream.Input.ReadAsync(cancellationToken);
                    total += result.Buffer.Length;
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
                var count = new byte[8];
                BinaryPrimitives.WriteInt64BigEndian(count, total);
                await stream.Output.WriteAsync(count, cancellationToken);
                await stream.Output.CompleteAsync();
            }
        }
    }

    private sealed class Node(ServiceProvider services) : IAsyncDisposable, IRelayNode
    {
        PeerId IRelayNode.PeerId => Host.PeerId;

        Multiaddr IRelayNode.Address => Address.DecapsulateCode(MultiaddrProtocols.P2P.Code);

        byte[] IRelayNode.SignedDescriptor => Relay.SignedDescriptor();

        ValueTask<long> IRelayNode.RelayedCellsAsync() => ValueTask.FromResult(Metrics.RelayedCellsForward + Metrics.RelayedCellsBackward);

        public PeerHost Host { get; } = services.GetRequiredService<PeerHost>();

        public OnionClient Client => services.GetRequiredService<OnionClient>();

        public P2PStack.Privacy.Onion.Relay.OnionRelay Relay => services.GetRequiredService<P2PStack.Privacy.Onion.Relay.OnionRelay>();

        public OnionMetrics Metrics => services.GetRequiredService<OnionMetrics>();

        public Multiaddr Address => Host.ListenAddresses.First(a => a.ToString().Contains("/tcp/", StringComparison.Ordinal))
            .Encapsulate($"/p2p/{Host.PeerId}");

        public static async Task<Node> StartAsync(bool relay, Flow flow)
        {
            var services = new ServiceCollection();
            services.AddLogging();
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn("/ip4/127.0.0.1/tcp/0");
                p2p.AddTcpTransport();
                p2p.AddNoise();
                p2p.AddYamux();
                p2p.AddIdentify().AddPing();
                p2p.AddProtocol<EchoHandler>().AddProtocol<SinkHandler>();
                p2p.ConfigureHost(o =>
                {
                    o.AnonymousConnectionProtocols.Add(EchoProtocol);
                    o.AnonymousConnectionProtocols.Add(SinkProtocol);
                });
                p2p.AddOnion(o =>
                {
                    o.Relay.Enabled = relay;
                    o.EnableClient = !relay;
                    o.Client.PreemptiveCircuits = 0;
                    o.Client.MaxCircuits = 1024;
                    o.Client.ReadLinkOnMuxerLoop = ClientReadsLinkOnMuxerLoop;
                    o.DestinationReadsOnMuxerLoop = DestinationReadsOnMuxerLoop;
                    o.Client.PumpOnWriter = ClientPumpOnWriter;
                    o.Client.Diversity.Enabled = false; // every node is on 127.0.0.1
                    o.Relay.AllowPrivateAddresses = true;
                    // One client builds every circuit: the per-peer build-rate and circuit limits would refuse it.
                    o.Relay.CreateBurstPerPeer = 100_000;
                    o.Relay.CreatesPerSecondPerPeer = 100_000;
                    o.Relay.MaxCircuitsPerPeer = 4096;
                    flow.Apply(o.FlowControl);
                });
            });
            var provider = services.BuildServiceProvider();
            var node = new Node(provider);
            await node.Host.StartAsync(CancellationToken.None);
            foreach (var hosted in provider.GetServices<IHostedService>()) await hosted.StartAsync(CancellationToken.None);
            return node;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var hosted in services.GetServices<IHostedService>().Reverse()) await hosted.StopAsync(CancellationToken.None);
            await Host.DisposeAsync();
            await services.DisposeAsync();
        }
    }
}
