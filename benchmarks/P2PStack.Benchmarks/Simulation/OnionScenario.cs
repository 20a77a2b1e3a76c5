using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Protocols.Ping;
using P2PStack.Simulation;
using P2PStack.Transports.Memory;

namespace P2PStack.Benchmarks.Simulation;

/// <summary>
/// <c>sim onion [--relays 50] [--circuits 200] [--clients 10] [--latency-ms 25]</c>: real onion relays and clients
/// (full hosts: memory transport, Noise, yamux, X-Wing hops) on one memory network with fixed one-way link latency.
/// Each client's directory holds every relay's signed descriptor. Builds <c>--circuits</c> circuits of 3 hops, then as
/// many of 5, a few at a time, pinging the destination through each; reports success, build time against the
/// telescoping floor, and the ping over a circuit against a direct one; then relay CPU per relayed cell.
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

            var report = new System.Text.StringBuilder();
            double rtt = 2 * latency.TotalMilliseconds;
            report.AppendLine($"onion, padding {(padding ? "on (default policy: circuit links padded)" : "off")}, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}: {relayCount} relays, {clientCount} clients, {circuits} circuits per path length, one-way link latency {latency.TotalMilliseconds} ms (link RTT {rtt} ms)");
            report.AppendLine("| hops | built | build p50 / p99 ms | telescoping floor ms | ping through circuit p50 / p99 ms | direct ping ms |");
            report.AppendLine("|---:|---:|---|---:|---|---:|");
            // Direct ping from a client to the destination, on an existing connection (the floor is one link RTT).
            var direct = new List<double>();
            var directConnection = await clients[0].Host.DialAsync(destinationAddress.Encapsulate($"/p2p/{destination.Host.PeerId}"), CancellationToken.None);
            foreach (var sample in await clients[0].Ping.PingAsync(directConnection.RemotePeer, 20, CancellationToken.None)) direct.Add(sample.TotalMilliseconds);
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            foreach (int hops in new[] { 3, 5 })
            {
                var builds = new ConcurrentBag<double>();
                var pings = new ConcurrentBag<double>();
                int failed = 0;
                using var gate = new SemaphoreSlim(concurrency);
                await Task.WhenAll(Enumerable.Range(0, circuits).Select(async i =>
                {
                    await gate.WaitAsync();
                    try
                    {
                        var client = clients[i % clients.Count].Client;
                        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
                        var info = await client.BuildCircuitAsync(new CircuitRequest { Hops = hops, Destination = destination.Host.PeerId }, timeout.Token);
                        builds.Add(info.BuildTime.TotalMilliseconds);
                        var connection = await client.ConnectAsync(destination.Host.PeerId, circuitId: info.Id, cancellationToken: timeout.Token);
                        await using (var stream = await connection.Connection.OpenStreamAsync([PingProtocol.Id], timeout.Token))
                            pings.Add((await clients[i % clients.Count].Ping.PingAsync(stream, 1, timeout.Token))[0].TotalMilliseconds);
                        await connection.Connection.CloseAsync(CancellationToken.None);
                        await client.CloseCircuitAsync(info.Id, timeout.Token);
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException or TimeoutException)
                    {
                        Interlocked.Increment(ref failed);
                    }
                    finally
                    {
                        gate.Release();
                    }
                }));
                double floor = Enumerable.Range(1, hops).Sum(i => i * rtt);
                report.AppendLine($"| {hops} | {builds.Count}/{circuits} ({100.0 * builds.Count / circuits:F1} %) | "
                    + $"{Statistics.Percentile([.. builds], 50):F0} / {Statistics.Percentile([.. builds], 99):F0} | {floor:F0} | "
                    + $"{Statistics.Percentile([.. pings], 50):F0} / {Statistics.Percentile([.. pings], 99):F0} | {Statistics.Percentile(direct, 50):F0} |");
            }
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            long cells = relays.Sum(r => r.Metrics.RelayedCellsForward + r.Metrics.RelayedCellsBackward);
            report.AppendLine($"relayed cells (all relays): {cells}; process CPU during the builds and pings: {cpu.TotalSeconds:F1} s "
                + $"(all nodes, handshakes included: an upper bound of {(cells == 0 ? 0 : cpu.TotalMicroseconds / cells):F0} us per relayed cell)");
            return report.ToString();
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
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
                p2p.AddIdentify().AddPing();
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
