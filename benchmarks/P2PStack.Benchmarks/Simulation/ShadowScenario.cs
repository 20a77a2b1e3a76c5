using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.ShadowAddresses;
using P2PStack.Privacy.ShadowAddresses.Connections;
using P2PStack.Privacy.ShadowAddresses.Service;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Protocols.Ping;
using P2PStack.Simulation;
using P2PStack.Transports.Memory;

namespace P2PStack.Benchmarks.Simulation;

/// <summary>
/// <c>sim shadow [--relays 20] [--connections 50] [--clients 4] [--latency-ms 25] [--concurrency 4] [--padding both|on|off]
/// [--pool-size 1]</c>: connection
/// set-up to a shadow address (docs/specs/shadow.md, section 7) on one memory network with fixed one-way link latency.
/// Real hosts (memory transport, Noise, yamux, Kademlia, the onion module with X-Wing hops): relays, a service that
/// publishes one address with three registered introduction points, and clients that each time resolve the address in
/// the DHT, build a 3-hop circuit to an introduction point, are joined to the service's circuit and run Noise and yamux
/// end to end (<see cref="ShadowConnector.ConnectAsync(ShadowAddress, CancellationToken)"/>), then ping once through
/// the connection and close it. Reports the set-up time and its parts (resolution alone, measured apart), and the ping.
/// With <c>--pool-size N</c> the service keeps N addresses (<see cref="ShadowPoolOptions.PoolSize"/>) and the report
/// says what bringing them up cost: wall time and process CPU until every one is published with its three registered
/// introduction points (what each address costs again at every renewal of its points), and the circuits it holds.
/// </summary>
public static class ShadowScenario
{
    /// <summary>Runs the scenario without padding (the anchor) and then with it, each on a fresh network, in one process.</summary>
    public static async Task<string> RunBothAsync(int relayCount, int connections, int clientCount, TimeSpan latency, int concurrency,
        string padding = "both", int poolSize = 1)
    {
        string anchor = padding is "both" or "off" ? await RunAsync(relayCount, connections, clientCount, latency, concurrency, padding: false, poolSize) : "";
        string padded = padding is "both" or "on" ? await RunAsync(relayCount, connections, clientCount, latency, concurrency, padding: true, poolSize) : "";
        return anchor + padded;
    }

    /// <param name="padding">Every node runs the padding module with its default policy: circuit links and the
    /// end-to-end shadow connections are padded (1024/16384-byte cells, no cover, no jitter).</param>
    public static async Task<string> RunAsync(int relayCount, int connections, int clientCount, TimeSpan latency, int concurrency,
        bool padding = false, int poolSize = 1)
    {
        var network = new MemoryNetwork(1) { DefaultLinkConditions = new MemoryLinkConditions { Latency = latency } };
        var nodes = new List<Node>();
        try
        {
            var relays = new List<Node>();
            Multiaddr? bootstrap = null;
            for (int i = 0; i < relayCount; i++)
            {
                var relay = await Node.StartAsync(network, Role.Relay, bootstrap, nodes, padding);
                bootstrap ??= relay.Address.Encapsulate($"/p2p/{relay.Host.PeerId}");
                relays.Add(relay);
            }
            var service = await Node.StartAsync(network, Role.Service, bootstrap, nodes, padding, poolSize);
            var clients = new List<Node>();
            for (int i = 0; i < clientCount; i++) clients.Add(await Node.StartAsync(network, Role.Client, bootstrap, nodes, padding));
            foreach (var node in nodes) await node.Get<KademliaDht>().RefreshAsync(CancellationToken.None);
            // From here the service's pool comes up: its publisher has been waiting for its onion directory.
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var published = Stopwatch.StartNew();
            foreach (var node in clients.Append(service))
                foreach (var relay in relays) node.Get<OnionClient>().Directory.TryAdd(relay.Get<OnionRelay>().SignedDescriptor());

            var pool = service.Get<ShadowAddressPool>();
            var publisher = service.Get<ShadowPublisher>();
            while (pool.List() is var all && all.Any(e => publisher.LastOf(e.Address) is not { StoredOn: > 0, IntroductionPoints: 3 }))
            {
                if (published.Elapsed > TimeSpan.FromMinutes(10))
                    throw new TimeoutException($"the service never published its {poolSize} addresses with three introduction points each");
                await Task.Delay(100);
            }
            var upCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            var upWall = published.Elapsed;
            int held = service.Get<ShadowIntroductions>().Registrations.Count;
            long publications = service.Get<ShadowMetrics>().Published;
            var address = pool.List()[0].Address;

            var setups = new ConcurrentBag<double>();
            var resolves = new ConcurrentBag<double>();
            var pings = new ConcurrentBag<double>();
            int failed = 0;
            using var gate = new SemaphoreSlim(concurrency);
            await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var client = clients[i % clients.Count];
                    using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
                    long started = Stopwatch.GetTimestamp();
                    await client.Get<ShadowDirectory>().ResolveAsync(address, timeout.Token);
                    resolves.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    started = Stopwatch.GetTimestamp();
                    var connection = await client.Get<ShadowConnector>().ConnectAsync(address, timeout.Token);
                    setups.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    await using (var stream = await connection.OpenStreamAsync([PingProtocol.Id], timeout.Token))
                        pings.Add((await client.Get<PingService>().PingAsync(stream, 1, timeout.Token))[0].TotalMilliseconds);
                    await connection.CloseAsync(CancellationToken.None);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException or TimeoutException)
                {
                    Interlocked.Increment(ref failed);
                    Console.Error.WriteLine($"connection {i} failed: {e.Message}");
                }
                finally
                {
                    gate.Release();
                }
            }));

            double rtt = 2 * latency.TotalMilliseconds;
            var report = new System.Text.StringBuilder();
            report.AppendLine($"shadow, padding {(padding ? "on (default policy)" : "off")}, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}: {relayCount} relays, 1 service (3 introduction points), {clientCount} clients, {connections} connections "
                + $"{concurrency} at a time, one-way link latency {latency.TotalMilliseconds} ms (link RTT {rtt} ms)");
            report.AppendLine("| connected | set-up p50 / p99 ms (resolve + circuit + join + handshake) | resolve alone p50 / p99 ms | ping through p50 / p99 ms |");
            report.AppendLine("|---:|---|---|---|");
            report.AppendLine($"| {setups.Count}/{connections} | {Statistics.Percentile([.. setups], 50):F0} / {Statistics.Percentile([.. setups], 99):F0} | "
                + $"{Statistics.Percentile([.. resolves], 50):F0} / {Statistics.Percentile([.. resolves], 99):F0} | "
                + $"{Statistics.Percentile([.. pings], 50):F0} / {Statistics.Percentile([.. pings], 99):F0} |");
            report.AppendLine($"pool of {poolSize}: every address published with 3 introduction points after {upWall.TotalSeconds:F1} s wall, "
                + $"process CPU {upCpu.TotalSeconds:F2} s ({upCpu.TotalMilliseconds / poolSize:F0} ms per address, all nodes), "
                + $"{held} introduction circuits held, {publications} publications");
            report.AppendLine($"failed: {failed}; introductions accepted by the service: "
                + string.Join(", ", service.Get<ShadowMetrics>().IntroductionsByResult.Select(kv => $"{kv.Key} {kv.Value}")));
            return report.ToString();
        }
        finally
        {
            foreach (var node in Enumerable.Reverse(nodes)) await node.DisposeAsync();
        }
    }

    private enum Role
    {
        Relay,
        Service,
        Client,
    }

    private sealed class Node(ServiceProvider services) : IAsyncDisposable
    {
        public PeerHost Host { get; } = services.GetRequiredService<PeerHost>();

        public T Get<T>() where T : notnull => services.GetRequiredService<T>();

        public Multiaddr Address => Host.ListenAddresses.First(a => !a.ToString().Contains("p2p-onion", StringComparison.Ordinal));

        public static async Task<Node> StartAsync(MemoryNetwork network, Role role, Multiaddr? bootstrap, List<Node> all, bool padding,
            int poolSize = 1)
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
                p2p.AddKademlia(o =>
                {
                    o.RefreshInterval = TimeSpan.Zero;
                    if (bootstrap is not null) o.BootstrapPeers.Add(bootstrap);
                });
                p2p.AddShadowAddresses();
                p2p.AddOnion(o =>
                {
                    o.Relay.Enabled = role == Role.Relay;
                    o.EnableClient = role != Role.Relay;
                    o.Client.PreemptiveCircuits = 0;
                    o.Client.MaxCircuits = 1024;
                    o.Client.Diversity.Enabled = false; // every memory address is in one block
                    o.Relay.AllowPrivateAddresses = true;
                });
                if (padding) p2p.AddPadding();
                if (role == Role.Client) p2p.AddShadowConnections();
                if (role == Role.Service) p2p.AddShadowService(o =>
                {
                    o.IntroductionPoints = 3;
                    o.PublicationJitter = TimeSpan.Zero; // the scenario measures connection setup, not publication delays
                });
                if (role == Role.Service) p2p.Services.Configure<ShadowPoolOptions>(o => o.PoolSize = poolSize);
            });
            var provider = services.BuildServiceProvider();
            var node = new Node(provider);
            all.Add(node);
            await node.Host.StartAsync(CancellationToken.None);
            foreach (var hosted in provider.GetServices<IHostedService>()) await hosted.StartAsync(CancellationToken.None);
            if (bootstrap is not null) await provider.GetRequiredService<KademliaHostedService>().Bootstrap.WaitAsync(TimeSpan.FromMinutes(2));
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
