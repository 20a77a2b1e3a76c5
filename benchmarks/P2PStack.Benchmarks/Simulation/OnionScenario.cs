using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Protocols.Perf;
using P2PStack.Protocols.Ping;
using P2PStack.Simulation;
using P2PStack.Transports.Memory;

namespace P2PStack.Benchmarks.Simulation;

/// <summary>
/// <c>sim onion [--relays 50] [--circuits 200] [--clients 10] [--latency-ms 25]</c>: real onion relays and clients
/// (full hosts: memory transport, Noise, yamux, X-Wing hops) on one memory network with fixed one-way link latency.
/// Each client's directory holds every relay's signed descriptor. For 3 hops, then 5, each on a fresh network: builds
/// <c>--circuits</c> circuits on random paths a few at a time (cold: most links are first contacts), then rebuilds each
/// over the same path (warm: every link connected, the case of the telescoping floor) and pings the destination
/// through it; then uploads the same bytes (perf protocol) through a circuit and over a direct connection. Reports
/// success, cold and warm build times against the floor, ping and throughput through a circuit against direct ones, and
/// relay CPU per relayed cell (the process CPU of the 5-hop upload minus the 3-hop one, over the cells the two extra
/// relays relayed).
/// <c>--padding on</c>: every node runs the padding module with its default policy (circuit links padded);
/// <c>--padding both</c>: without it (the anchor), then with it, each on a fresh network, in one process.
/// </summary>
public static class OnionScenario
{
    public static async Task<string> RunAsync(int relayCount, int circuits, int clientCount, TimeSpan latency, int concurrency,
        string padding = "off")
    {
        if (padding is not ("off" or "on" or "both")) throw new ArgumentException($"--padding must be off, on or both, not '{padding}'");
        if (padding == "both")
        {
            string anchor = await RunAsync(relayCount, circuits, clientCount, latency, concurrency, padding: false);
            string padded = await RunAsync(relayCount, circuits, clientCount, latency, concurrency, padding: true);
            return anchor + padded;
        }
        return await RunAsync(relayCount, circuits, clientCount, latency, concurrency, padding == "on");
    }

    private static async Task<string> RunAsync(int relayCount, int circuits, int clientCount, TimeSpan latency, int concurrency,
        bool padding)
    {
        double rtt = 2 * latency.TotalMilliseconds;
        var report = new System.Text.StringBuilder();
        report.AppendLine($"onion, padding {(padding ? "on (default policy: circuit links padded)" : "off")}, load {Load()}: {relayCount} relays, {clientCount} clients, {circuits} circuits per path length (cold, then warm over the same paths), one-way link latency {latency.TotalMilliseconds} ms (link RTT {rtt} ms), {TransferMiB} MiB per transfer");
        report.AppendLine("| hops | cold: built | cold build p50 / p99 ms | warm: built | warm build p50 / p99 ms | telescoping floor ms | ping through circuit p50 / p99 ms (floor) | direct ping p50 ms |");
        report.AppendLine("|---:|---:|---|---:|---|---:|---|---:|");
        string transfers = "";
        foreach (int hops in new[] { 3, 5 })
        {
            var (row, measured) = await RunHopsAsync(hops, relayCount, circuits, clientCount, latency, concurrency, padding, measureTransfers: hops == 5);
            report.AppendLine(row);
            transfers += measured;
        }
        report.Append(transfers);
        report.AppendLine($"load at the end {Load()}");
        return report.ToString();
    }

    private const int TransferRounds = 5;

    private const int TransferMiB = 4;

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    // One path length on a fresh network, so that the cold builds are cold: every client and relay starts without
    // connections.
    private static async Task<(string Row, string Transfers)> RunHopsAsync(int hops, int relayCount, int circuits,
        int clientCount, TimeSpan latency, int concurrency, bool padding, bool measureTransfers)
    {
        var network = new MemoryNetwork(1) { DefaultLinkConditions = new MemoryLinkConditions { Latency = latency } };
        var nodes = new List<Node>();
        try
        {
            var relays = new List<Node>();
            for (int i = 0; i < relayCount; i++) relays.Add(await Node.StartAsync(network, relay: true, nodes, padding));
            var destination = await Node.StartAsync(network, relay: false, nodes, padding);
            var clients = new List<Node>();
            for (int i = 0; i < clientCount; i++) clients.Add(await Node.StartAsync(network, relay: false, nodes, padding));
            var destinationAddress = destination.Address;
            foreach (var node in clients.Concat(relays))
            {
                node.Host.PeerStore.AddAddresses(destination.Host.PeerId, [destinationAddress], TimeSpan.FromHours(1));
                if (!clients.Contains(node)) continue;
                foreach (var relay in relays) node.Client.Directory.TryAdd(relay.Relay.SignedDescriptor());
            }
            double rtt = 2 * latency.TotalMilliseconds;

            // Cold: random paths, first contact on most links (dials, Noise, yamux over the 25 ms links).
            var cold = new ConcurrentBag<double>();
            var paths = new ConcurrentDictionary<int, IReadOnlyList<P2PStack.Identity.PeerId>>();
            await ForEachAsync(circuits, concurrency, async (i, token) =>
            {
                var client = clients[i % clients.Count].Client;
                var info = await client.BuildCircuitAsync(new CircuitRequest { Hops = hops, Destination = destination.Host.PeerId }, token);
                cold.Add(info.BuildTime.TotalMilliseconds);
                paths[i] = info.Relays;
                await client.CloseCircuitAsync(info.Id, token);
            });
            // Warm: the same client rebuilds over the same path, every link already connected: what the telescoping floor
            // describes. Each circuit then carries one ping to the destination, end to end.
            var warm = new ConcurrentBag<double>();
            var pings = new ConcurrentBag<double>();
            await ForEachAsync(circuits, concurrency, async (i, token) =>
            {
                if (!paths.TryGetValue(i, out var path)) return;
                var node = clients[i % clients.Count];
                var info = await node.Client.BuildCircuitAsync(new CircuitRequest { Hops = hops, Pinned = path, Destination = destination.Host.PeerId }, token);
                warm.Add(info.BuildTime.TotalMilliseconds);
                var connection = await node.Client.ConnectAsync(destination.Host.PeerId, circuitId: info.Id, cancellationToken: token);
                await using (var stream = await connection.Connection.OpenStreamAsync([PingProtocol.Id], token))
                    pings.Add((await node.Ping.PingAsync(stream, 1, token))[0].TotalMilliseconds);
                await connection.Connection.CloseAsync(CancellationToken.None);
                await node.Client.CloseCircuitAsync(info.Id, token);
            });

            // Direct: ping from a client to the destination over a connection of its own.
            var direct = new List<double>();
            var directConnection = await clients[0].Host.DialAsync(destinationAddress.Encapsulate($"/p2p/{destination.Host.PeerId}"), CancellationToken.None);
            foreach (var sample in await clients[0].Ping.PingAsync(directConnection.RemotePeer, 20, CancellationToken.None)) direct.Add(sample.TotalMilliseconds);
            string transfers = measureTransfers && paths.TryGetValue(0, out var first)
                ? await MeasureTransfersAsync(clients[0], destination, directConnection, relays, first)
                : "";
            double floor = Enumerable.Range(1, hops).Sum(i => i * rtt);
            double pingFloor = (hops + 1) * rtt;
            string row = $"| {hops} | {cold.Count}/{circuits} ({100.0 * cold.Count / circuits:F1} %) | {P(cold, 50)} / {P(cold, 99)} | "
                + $"{warm.Count}/{paths.Count} | {P(warm, 50)} / {P(warm, 99)} | {floor:F0} | {P(pings, 50)} / {P(pings, 99)} ({pingFloor:F0}) | "
                + $"{Statistics.Percentile(direct, 50):F0} |";
            return (row, transfers);
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    // Uploads through a circuit of 3 hops (the first three relays of a 5-hop path), of 5 (the whole path) and over the
    // direct connection, in turns, TransferRounds times after one warm-up round, all on one network and in one process
    // state (JIT, windows): medians of throughput and of process CPU. Relay CPU per cell by difference: the 5-hop upload
    // costs the process the work of two more relays relaying the same cells; client, exit and destination do the same
    // work in both.
    private static async Task<string> MeasureTransfersAsync(Node client, Node destination, IConnection directConnection, List<Node> relays,
        IReadOnlyList<P2PStack.Identity.PeerId> path)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var token = timeout.Token;
        var connections = new Dictionary<int, (IConnection Connection, string Circuit)>();
        foreach (int hops in new[] { 3, 5 })
        {
            var info = await client.Client.BuildCircuitAsync(new CircuitRequest { Hops = hops, Pinned = [.. path.Take(hops)], Destination = destination.Host.PeerId }, token);
            var connection = await client.Client.ConnectAsync(destination.Host.PeerId, circuitId: info.Id, cancellationToken: token);
            connections[hops] = (connection.Connection, info.Id);
        }
        long Relayed() => relays.Sum(r => r.Metrics.RelayedCellsForward + r.Metrics.RelayedCellsBackward);
        var seconds = new Dictionary<int, List<double>> { [0] = [], [3] = [], [5] = [] };
        var cpu = new Dictionary<int, List<double>> { [0] = [], [3] = [], [5] = [] };
        var cells = new Dictionary<int, List<double>> { [0] = [], [3] = [], [5] = [] };
        for (int round = 0; round <= TransferRounds; round++)
        {
            foreach (int hops in new[] { 3, 5, 0 })
            {
                var connection = hops == 0 ? directConnection : connections[hops].Connection;
                long before = Relayed();
                var (s, c) = await MeasureAsync(() => UploadAsync(connection, token));
                if (round == 0) continue; // warm-up
                seconds[hops].Add(s);
                cpu[hops].Add(c);
                cells[hops].Add(Relayed() - before);
            }
        }
        foreach (var (connection, circuit) in connections.Values)
        {
            await connection.CloseAsync(CancellationToken.None);
            await client.Client.CloseCircuitAsync(circuit, token);
        }
        double mb = TransferMiB * 1024.0 * 1024 / 1e6;
        var report = new System.Text.StringBuilder();
        report.AppendLine($"uploads of {TransferMiB} MiB (perf protocol, end to end: Noise and yamux inside the circuit), medians of {TransferRounds} rounds after a warm-up round, load {Load()}:");
        report.AppendLine("| path | MB/s | process CPU per upload s | cells relayed (all relays) |");
        report.AppendLine("|---|---:|---:|---:|");
        foreach (int hops in new[] { 0, 3, 5 })
            report.AppendLine($"| {(hops == 0 ? "direct connection" : $"circuit, {hops} hops")} | {mb / Statistics.Percentile(seconds[hops], 50):F2} | {Statistics.Percentile(cpu[hops], 50):F3} | {Statistics.Percentile(cells[hops], 50):F0} |");
        double extraCpu = Statistics.Percentile(cpu[5], 50) - Statistics.Percentile(cpu[3], 50);
        double extraCells = Statistics.Percentile(cells[5], 50) - Statistics.Percentile(cells[3], 50);
        double perCell = extraCells > 0 ? extraCpu * 1e6 / extraCells : double.NaN;
        // Per round, too: the spread says how far the median difference can be trusted.
        var perRound = Enumerable.Range(0, TransferRounds).Select(i => (cpu[5][i] - cpu[3][i]) * 1e6 / Math.Max(1, cells[5][i] - cells[3][i])).ToList();
        double cellsPerMiB = 1024.0 * 1024 / new OnionOptions().Layout.RelayDataCapacity;
        report.AppendLine($"relay CPU per relayed cell: {perCell:F1} us (median CPU of the 5-hop upload minus the 3-hop one, {extraCpu:F3} s, over the "
            + $"{extraCells:F0} more cells relayed: two more relays); per round {string.Join(", ", perRound.Select(x => x.ToString("F1", System.Globalization.CultureInfo.InvariantCulture)))} us; "
            + $"per MiB of data per relay {perCell * cellsPerMiB / 1000:F2} ms");
        return report.ToString();
    }

    private static string P(IEnumerable<double> values, double percentile)
    {
        var list = values.ToList();
        return list.Count == 0 ? "-" : Statistics.Percentile(list, percentile).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);
    }

    // Runs count tasks, concurrency at a time; a task that fails (build, connect or ping) is left out of the figures.
    private static async Task ForEachAsync(int count, int concurrency, Func<int, CancellationToken, Task> work)
    {
        using var gate = new SemaphoreSlim(concurrency);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
                await work(i, timeout.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException or TimeoutException)
            {
                // counted as not built (or not pinged)
            }
            finally
            {
                gate.Release();
            }
        }));
    }

    // Wall time and process CPU time of one piece of work, in seconds.
    private static async Task<(double Seconds, double Cpu)> MeasureAsync(Func<Task> work)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        await work();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        process.Refresh();
        return (seconds, (process.TotalProcessorTime - cpu).TotalSeconds);
    }

    // The perf protocol (upload only): TransferMiB MiB to the destination, then its (empty) answer read to the end.
    private static async Task UploadAsync(IConnection connection, CancellationToken token)
    {
        await using var stream = await connection.OpenStreamAsync([PerfProtocol.Id], token);
        await PerfProtocol.WriteSizeAsync(stream.Output, 0, token);
        await PerfProtocol.WriteBytesAsync(stream.Output, (ulong)TransferMiB * 1024 * 1024, token);
        await stream.Output.CompleteAsync();
        await PerfProtocol.DrainAsync(stream.Input, token);
    }

    private sealed class Node(ServiceProvider services) : IAsyncDisposable
    {
        public PeerHost Host { get; } = services.GetRequiredService<PeerHost>();

        public OnionClient Client => services.GetRequiredService<OnionClient>();

        public P2PStack.Privacy.Onion.Relay.OnionRelay Relay => services.GetRequiredService<P2PStack.Privacy.Onion.Relay.OnionRelay>();

        public OnionMetrics Metrics => services.GetRequiredService<OnionMetrics>();

        public PingService Ping => services.GetRequiredService<PingService>();

        public Multiaddr Address => Host.ListenAddresses.First(a => !a.ToString().Contains("p2p-onion", StringComparison.Ordinal));

        public static async Task<Node> StartAsync(MemoryNetwork network, bool relay, List<Node> all, bool padding)
        {
            var services = new ServiceCollection();
            services.AddLogging();
            services.AddSingleton(network);
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn("/memory/0");
                p2p.AddMemoryTransport();
                p2p.AddNoise();
                p2p.AddYamux();
                p2p.AddIdentify().AddPing().AddPerf();
                p2p.ConfigureHost(h => h.AnonymousConnectionProtocols.Add(PerfProtocol.Id)); // uploads through circuits
                p2p.AddOnion(o =>
                {
                    o.Relay.Enabled = relay;
                    o.EnableClient = !relay;
                    o.Client.PreemptiveCircuits = 0;
                    o.Client.MaxCircuits = 1024;
                    o.Client.Diversity.Enabled = false; // every memory address is in one block
                    o.Relay.AllowPrivateAddresses = true;
                });
                if (padding) p2p.AddPadding();
            });
            var provider = services.BuildServiceProvider();
            var node = new Node(provider);
            all.Add(node);
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
