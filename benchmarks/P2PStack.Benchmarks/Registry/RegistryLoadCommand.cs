using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using P2PStack.Identity;
using P2PStack.Registry;

namespace P2PStack.Benchmarks.Registry;

/// <summary>
/// <c>registry [--nodes 1000] [--rounds 3] [--interval-s 20] [--connections 8] [--concurrency 64]</c>: the registry
/// service in this process on 127.0.0.1 (real Kestrel, SQLite in a temp directory), and N in-process clients, each
/// with its own Ed25519 key, that register (signed), are approved by a sovereign, then heartbeat once per round
/// (spread evenly over the interval, as nodes on their own timers are), each reporting its connections with RTT.
/// Prints p50/p90/p99/max latency per request type and checks that no heartbeat was lost: every one answered 200
/// and the registry recorded exactly rounds heartbeats per node.
/// </summary>
public static class RegistryLoadCommand
{
    public static int Run(string[] args)
    {
        int nodes = Arg(args, "--nodes", 1000), rounds = Arg(args, "--rounds", 3), interval = Arg(args, "--interval-s", 20);
        int connections = Arg(args, "--connections", 8), concurrency = Arg(args, "--concurrency", 64);
        return RunAsync(nodes, rounds, TimeSpan.FromSeconds(interval), connections, concurrency).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int count, int rounds, TimeSpan interval, int connections, int concurrency)
    {
        var directory = Directory.CreateTempSubdirectory("registry-load-");
        using var sovereign = PrivateKey.Generate(KeyType.Ed25519);
        var options = new RegistryOptions
        {
            ListenAddress = IPAddress.Loopback,
            Port = 0,
            DatabasePath = Path.Combine(directory.FullName, "registry.db"),
            // All clients share 127.0.0.1, which the per-address rate limit would otherwise throttle as one client.
            RateLimitPerSecond = 1_000_000,
            RateLimitBurst = 1_000_000,
            MaxPendingNodes = count + 1,
            MaxConnections = concurrency * 4,
        };
        options.InitialSovereigns.Add(PeerId.FromPublicKey(sovereign.PublicKey).ToString());
        Console.WriteLine($"registry load: {count} nodes, {rounds} heartbeat rounds of {interval.TotalSeconds:0} s, {connections} connections per heartbeat, "
            + $"{concurrency} requests in flight at most; load average before: {LoadAverage()}");
        await using var server = await RegistryServer.StartAsync(options);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = concurrency })
        {
            Timeout = TimeSpan.FromMinutes(2),
        };
        var keys = Enumerable.Range(0, count).Select(_ => PrivateKey.Generate(KeyType.Ed25519)).ToList();
        var ids = keys.Select(k => PeerId.FromPublicKey(k.PublicKey).ToString()).ToList();
        var clients = keys.Select(k => new RegistryClient(k, new RegistryClientOptions { BaseAddress = server.BaseAddress }, http)).ToList();
        using var gate = new SemaphoreSlim(concurrency);
        var failures = new ConcurrentBag<string>();

        var register = await MeasureAsync(count, gate, failures, i => clients[i].RegisterAsync(new RegisterRequest
        {
            Name = $"load-{i}",
            Addresses = [$"/ip4/127.0.0.1/tcp/{10000 + i}"],
            Services = [new ServiceInfo("/ipfs/ping/1.0.0", "/ipfs/ping/1.0.0")],
        }, default));
        using var sovereignClient = new RegistryClient(sovereign, new RegistryClientOptions { BaseAddress = server.BaseAddress }, http);
        var approve = await MeasureAsync(count, gate, failures, i => sovereignClient.ApproveAsync(ids[i], null, default));

        var random = new Random(1);
        var heartbeats = new List<double>();
        var wall = Stopwatch.StartNew();
        for (int round = 0; round < rounds; round++)
        {
            var roundStart = Stopwatch.StartNew();
            var bodies = Enumerable.Range(0, count).Select(i => new HeartbeatRequest
            {
                Connections = [.. Enumerable.Range(0, connections).Select(_ => ids[random.Next(count)])
                    .Where(p => p != ids[i]).Distinct().Select(p => new ConnectionReport(p, new RttStats(1 + random.NextDouble(), 1, 2, 1.5)))],
            }).ToList();
            // Node i beats at its own moment of the round (the wait is not part of its latency).
            var latencies = await MeasureAsync(count, gate, failures, i => clients[i].HeartbeatAsync(bodies[i], default),
                i => interval * i / count - roundStart.Elapsed);
            heartbeats.AddRange(latencies);
            var rest = interval - roundStart.Elapsed;
            if (rest > TimeSpan.Zero && round < rounds - 1) await Task.Delay(rest);
        }
        wall.Stop();

        // Anchor, same run and pacing: an unsigned GET / (Kestrel, routing, JSON, one SQLite read; no signature, no write).
        var anchorStart = Stopwatch.StartNew();
        var anchor = await MeasureAsync(count, gate, failures, async i =>
        {
            using var response = await http.GetAsync(server.BaseAddress);
            return response.EnsureSuccessStatusCode();
        }, i => interval * i / count - anchorStart.Elapsed);

        long lost = 0;
        for (int i = 0; i < count; i++) lost += Math.Max(0, rounds - server.HeartbeatCount(ids[i]));
        var active = (await sovereignClient.GetNodesAsync(NodeStatus.Active, default)).Count;
        Console.WriteLine();
        Console.WriteLine("| request | count | p50 ms | p90 ms | p99 ms | max ms |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        Row("register (signed, new node)", register);
        Row("approve (signed by a sovereign)", approve);
        Row($"heartbeat (signed, {connections} links)", heartbeats);
        Row("anchor: GET / (unsigned, one read, same pacing)", anchor);
        Console.WriteLine();
        Console.WriteLine($"heartbeats: {heartbeats.Count} answered 200 of {count * rounds} sent, {lost} missing in the registry, "
            + $"{failures.Count} failed requests; {active} of {count} nodes active; heartbeat phase {wall.Elapsed.TotalSeconds:0.0} s; "
            + $"load average after: {LoadAverage()}");
        foreach (var failure in failures.Take(5)) Console.WriteLine($"  failure: {failure}");
        foreach (var client in clients) client.Dispose();
        foreach (var key in keys) key.Dispose();
        await server.DisposeAsync();
        try { directory.Delete(recursive: true); } catch (IOException) { }
        return failures.IsEmpty && lost == 0 && active == count && heartbeats.Count == count * rounds ? 0 : 1;
    }

    /// <summary>Runs one request per node (at most the gate's count at once) and returns the latencies of the successful ones.</summary>
    private static async Task<List<double>> MeasureAsync<T>(int count, SemaphoreSlim gate, ConcurrentBag<string> failures,
        Func<int, Task<T>> request, Func<int, TimeSpan>? due = null)
    {
        var latencies = new ConcurrentBag<double>();
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            if (due?.Invoke(i) is { } wait && wait > TimeSpan.Zero) await Task.Delay(wait);
            await gate.WaitAsync();
            try
            {
                var watch = Stopwatch.StartNew();
                await request(i).ConfigureAwait(false);
                latencies.Add(watch.Elapsed.TotalMilliseconds);
            }
            catch (Exception e)
            {
                failures.Add($"{i}: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                gate.Release();
            }
        }));
        return [.. latencies];
    }

    private static void Row(string name, List<double> values)
    {
        values.Sort();
        double P(double q) => values.Count == 0 ? double.NaN : values[Math.Min(values.Count - 1, (int)Math.Ceiling(q * values.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {values.Count} | {P(0.5):0.0} | {P(0.9):0.0} | {P(0.99):0.0} | {(values.Count == 0 ? double.NaN : values[^1]):0.0} |"));
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static int Arg(string[] args, string name, int fallback)
    {
        int index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
