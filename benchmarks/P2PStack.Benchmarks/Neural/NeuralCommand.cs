using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Globalization;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.GossipSub;
using P2PStack.Simulation;
using P2PStack.Transports.Memory;

namespace P2PStack.Benchmarks.Neural;

/// <summary>
/// <c>neural two [--messages N] [--commands N] [--bytes N] [--rate R]</c>: two hosts over loopback TCP, direct thoughts
/// as fast as backpressure allows (or paced at R per second), then command round trips. <c>neural swarm [--nodes N] [--messages M] [--rate R]
/// [--latency-ms L] [--degree D] [--seed S]</c>: N hosts over the memory transport in one swarm, M thoughts published
/// from random members at R per second. Latency is creation (a Stopwatch stamp in the body) to handler delivery.
/// <c>neural reliable [--messages N] [--in-flight F] [--loss-percent P] [--seed S] [--attempt-timeout-ms T] [--give-up-s G]</c>:
/// two hosts over the memory transport, N reliable thoughts a -> b, F at a time, b's reliable handler behind a seeded
/// lossy link (P% of messages and P% of the remaining acks lost per attempt); checks exactly-once delivery to the
/// application and prints attempts and latency (docs/benchmarks.md).
/// </summary>
internal static class NeuralCommand
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    public static int Run(string[] args)
    {
        try
        {
            return args.FirstOrDefault() switch
            {
                "two" => TwoAsync(args[1..]).GetAwaiter().GetResult(),
                "swarm" => SwarmAsync(args[1..]).GetAwaiter().GetResult(),
                "reliable" => ReliableAsync(args[1..]).GetAwaiter().GetResult(),
                _ => Usage(),
            };
        }
        catch (TimeoutException e)
        {
            Console.Error.WriteLine($"neural: {e.Message}");
            return 1;
        }
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: neural two [--messages N] [--commands N] [--bytes N] [--rate R] | neural swarm [--nodes N] [--messages M] [--rate R] [--latency-ms L] [--degree D] [--seed S] | neural reliable [--messages N] [--in-flight F] [--loss-percent P] [--seed S] [--attempt-timeout-ms T] [--give-up-s G]");
        return 2;
    }

    private static async Task<int> TwoAsync(string[] args)
    {
        int messages = Option(args, "--messages", 20_000);
        int commands = Option(args, "--commands", 2_000);
        int bytes = Option(args, "--bytes", 100);
        int rate = Option(args, "--rate", 0); // 0: as fast as backpressure allows
        var probe = new DeliveryProbe();
        await using var a = await NeuralBenchPeer.StartAsync(null, probe, 0);
        await using var b = await NeuralBenchPeer.StartAsync(null, probe, 1);
        await a.Host.DialAsync(b.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var to = NeuralDestination.ToPeer(b.Host.PeerId);

        // Warm-up: the neural stream, JIT, pools.
        const int warmUp = 1_000;
        probe.Reset(0);
        for (int i = 0; i < warmUp; i++) await a.Mesh.PostAsync(to, NeuralBenchPeer.Probe(i, bytes));
        await WaitUntil(() => probe.Count == warmUp, "warm-up deliveries");
        probe.Reset(warmUp);

        long start = Stopwatch.GetTimestamp();
        PostedMessage? last = null;
        for (int i = 0; i < messages; i++)
        {
            if (rate > 0 && TimeSpan.FromSeconds((double)i / rate) - Stopwatch.GetElapsedTime(start) is { Ticks: > 0 } due) await Task.Delay(due);
            last = await a.Mesh.PostAsync(to, NeuralBenchPeer.Probe(warmUp + i, bytes));
        }
        long posted = Stopwatch.GetTimestamp();
        await last!.Sent.WaitAsync(Patience);
        await WaitUntil(() => probe.Count == messages, "every thought");
        double seconds = (probe.LastDeliveryTimestamp - start) / (double)Stopwatch.Frequency;
        var latencies = probe.Latencies();
        var sample = NeuralBenchPeer.Probe(0, bytes);
        Console.WriteLine($"neural two (loopback TCP, Noise, Yamux): {messages} thoughts of {bytes}-byte content " +
            $"({sample.CalculateSize()}-byte body) a -> b direct, " + (rate > 0 ? $"paced at {rate}/s" : "as fast as backpressure allows"));
        Console.WriteLine($"  {messages / seconds:N0} msg/s delivered ({seconds:F2} s; posting took {(posted - start) / (double)Stopwatch.Frequency:F2} s); " +
            $"latency p50 {P(latencies, 50):F2} ms p90 {P(latencies, 90):F2} ms p99 {P(latencies, 99):F2} ms max {latencies.Max():F2} ms");
        Drops(a, "a");
        Drops(b, "b");

        // Command -> response: one at a time, then 16 in flight.
        await CommandsAsync(a, to, 200, 1, record: false);
        await CommandsAsync(a, to, commands, 1, record: true);
        await CommandsAsync(a, to, commands * 2, 16, record: true);
        return 0;
    }

    private static async Task CommandsAsync(NeuralBenchPeer a, NeuralDestination to, int count, int inFlight, bool record)
    {
        var rtts = new double[count];
        int next = -1;
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
        {
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                long t0 = Stopwatch.GetTimestamp();
                var reply = await a.Mesh.SendCommandAsync(to, new Command { Name = "echo", Content = "ping" });
                if (!reply.Body.Success) throw new InvalidOperationException($"command failed: {reply.Body.Error}");
                rtts[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        })).WaitAsync(Patience);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (!record) return;
        Console.WriteLine($"  commands, {inFlight} in flight: {count} round trips, {count / seconds:N0} per s; " +
            $"RTT p50 {P(rtts, 50):F2} ms p90 {P(rtts, 90):F2} ms p99 {P(rtts, 99):F2} ms");
    }

    private static async Task<int> SwarmAsync(string[] args)
    {
        int nodes = Option(args, "--nodes", 100);
        int messages = Option(args, "--messages", 300);
        int rate = Option(args, "--rate", 20);
        int latencyMs = Option(args, "--latency-ms", 25);
        int degree = Option(args, "--degree", 4);
        int seed = Option(args, "--seed", 1);
        int bytes = Option(args, "--bytes", 100);
        var random = new Random(seed);
        var network = new MemoryNetwork(random.Next())
        {
            DefaultLinkConditions = new MemoryLinkConditions { Latency = TimeSpan.FromMilliseconds(latencyMs) },
        };
        var probe = new DeliveryProbe();
        var clock = Stopwatch.StartNew();
        var peers = new NeuralBenchPeer[nodes];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, nodes), new ParallelOptions { MaxDegreeOfParallelism = 16 },
                async (i, _) => peers[i] = await NeuralBenchPeer.StartAsync(network, probe, i));
            Console.WriteLine($"  {clock.Elapsed.TotalSeconds:F1} s: {nodes} hosts started");
            // Each node dials `degree` random others (average degree about 2 x degree).
            var dials = new List<(int From, int To)>();
            for (int i = 0; i < nodes; i++)
            {
                var others = Enumerable.Range(0, nodes).Where(j => j != i).ToArray();
                random.Shuffle(others);
                dials.AddRange(others.Take(degree).Select(j => (i, j)));
            }
            await Parallel.ForEachAsync(dials, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (d, _) =>
                await peers[d.From].Host.DialAsync(peers[d.To].Address, CancellationToken.None).AsTask().WaitAsync(Patience));
            Console.WriteLine($"  {clock.Elapsed.TotalSeconds:F1} s: connected");
            await Parallel.ForEachAsync(peers, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (p, _) =>
                await p.Mesh.JoinSwarmAsync("bench").WaitAsync(Patience));
            string topic = NeuralProtocol.SwarmTopic("bench", "thought");
            await WaitUntil(() => peers.All(p => p.Get<GossipSubService>().GetMeshPeers(topic).Count >= 2), "swarm meshes");
            await Task.Delay(TimeSpan.FromSeconds(3)); // a few heartbeats to fill the meshes
            Console.WriteLine($"  {clock.Elapsed.TotalSeconds:F1} s: joined; mesh degree mean " +
                $"{peers.Average(p => p.Get<GossipSubService>().GetMeshPeers(topic).Count):F1}");

            probe.Reset(0);
            var interval = TimeSpan.FromSeconds(1.0 / rate);
            long start = Stopwatch.GetTimestamp();
            for (int m = 0; m < messages; m++)
            {
                var due = interval * m - Stopwatch.GetElapsedTime(start);
                if (due > TimeSpan.Zero) await Task.Delay(due);
                var publisher = peers[random.Next(nodes)];
                await publisher.Mesh.PublishAsync("bench", NeuralBenchPeer.Probe(m, bytes));
            }
            double publishSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            long expected = (long)messages * (nodes - 1);
            var deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
            while (probe.Count < expected && Stopwatch.GetTimestamp() < deadline) await Task.Delay(50);
            double seconds = (probe.LastDeliveryTimestamp - start) / (double)Stopwatch.Frequency;
            var latencies = probe.Latencies();
            Console.WriteLine($"neural swarm: {nodes} hosts (memory transport, {latencyMs} ms links, Noise, Yamux, Identify, Kademlia, GossipSub), " +
                $"each dialing {degree}; {messages} thoughts of {bytes}-byte content from random members at {rate}/s " +
                $"(publishing took {publishSeconds:F1} s)");
            Console.WriteLine($"  delivery {probe.Count / (double)expected:P3} ({probe.Count}/{expected}); " +
                $"{probe.Count / seconds:N0} msg/s delivered (all receivers, over {seconds:F1} s); " +
                $"latency p50 {P(latencies, 50):F1} ms p90 {P(latencies, 90):F1} ms p99 {P(latencies, 99):F1} ms max {latencies.DefaultIfEmpty().Max():F1} ms; " +
                $"duplicate handler deliveries {probe.Duplicates}");
            double heap = global::P2PStack.Simulation.Simulation.ManagedMemoryMiB();
            long dropped = peers.Sum(p => p.Mesh.GetStats().DroppedByTypeAndReason.Values.Sum());
            Console.WriteLine($"  neural drops across all nodes: {dropped}; managed heap {heap:F0} MiB");
            return 0;
        }
        finally
        {
            await Parallel.ForEachAsync(peers.Where(p => p is not null), new ParallelOptions { MaxDegreeOfParallelism = 16 },
                async (p, _) => await p.DisposeAsync());
        }
    }

    private static async Task<int> ReliableAsync(string[] args)
    {
        int messages = Option(args, "--messages", 100);
        int inFlight = Option(args, "--in-flight", 25);
        int lossPercent = Option(args, "--loss-percent", 20);
        int seed = Option(args, "--seed", 20241);
        int attemptTimeoutMs = Option(args, "--attempt-timeout-ms", 1000);
        int giveUpSeconds = Option(args, "--give-up-s", 120);
        var network = new MemoryNetwork();
        var probe = new DeliveryProbe();
        var loss = new P2PStack.Neural.Tests.ReliableLoss.LossModel(seed, lossPercent / 100.0, TimeSpan.FromMilliseconds(attemptTimeoutMs));
        await using var a = await NeuralBenchPeer.StartAsync(network, probe, 0, neural: o =>
        {
            o.ReliableAttemptTimeout = TimeSpan.FromMilliseconds(attemptTimeoutMs);
            o.ReliableGiveUpAfter = TimeSpan.FromSeconds(giveUpSeconds);
        });
        await using var b = await NeuralBenchPeer.StartAsync(network, probe, 1, configure: s =>
        {
            s.AddSingleton(loss);
            s.AddSingleton<NeuralReliableHandler, P2PStack.Neural.Tests.ReliableLoss.LossyReliableHandler>();
        });
        await a.Host.DialAsync(b.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var to = NeuralDestination.ToPeer(b.Host.PeerId);

        var reports = new System.Collections.Concurrent.ConcurrentBag<DeliveryReport>();
        using var slots = new SemaphoreSlim(inFlight);
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, messages).Select(async i =>
        {
            await slots.WaitAsync();
            try
            {
                reports.Add(await a.Mesh.SendReliableAsync(to, NeuralBenchPeer.Probe(i, 16)));
            }
            finally
            {
                slots.Release();
            }
        }));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int delivered = reports.Count(r => r.Status == DeliveryStatus.Delivered);
        if (delivered == messages) await WaitUntil(() => probe.Count == messages, "every acknowledged thought at the application");
        await Task.Delay(500); // a late duplicate would show up here
        var attempts = reports.Select(r => r.Attempts).ToList();
        var latencies = reports.Where(r => r.Status == DeliveryStatus.Delivered).Select(r => r.Elapsed.TotalMilliseconds).ToList();
        long duplicatesAcked = b.Mesh.ReliableCounts.Duplicates;
        Console.WriteLine($"neural reliable (memory transport, Noise, Yamux): {messages} thoughts a -> b, {inFlight} in flight; lossy link at b " +
            $"(seed {seed}): {lossPercent}% of messages and {lossPercent}% of the remaining acks lost per attempt; " +
            $"attempt timeout {attemptTimeoutMs} ms, give-up {giveUpSeconds} s; {seconds:F1} s in all");
        Console.WriteLine($"  reported delivered {delivered}, failed {reports.Count(r => r.Status == DeliveryStatus.Failed)}, " +
            $"refused {reports.Count(r => r.Status == DeliveryStatus.Refused)}; at the application: {probe.Count} distinct, " +
            $"{probe.Duplicates} duplicate deliveries");
        Console.WriteLine($"  lost {loss.MessagesLost} messages and {loss.AcksLost} acks; retries acknowledged as duplicates (not delivered again): {duplicatesAcked}");
        Console.WriteLine($"  attempts: total {attempts.Sum()}, mean {attempts.Average():F2}, max {attempts.Max()}; histogram " +
            string.Join(", ", attempts.GroupBy(n => n).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        Console.WriteLine($"  latency (first attempt to ack) p50 {P(latencies, 50):F1} ms p90 {P(latencies, 90):F1} ms " +
            $"p99 {P(latencies, 99):F1} ms max {latencies.DefaultIfEmpty().Max():F1} ms");
        foreach (var error in reports.Where(r => r.Status != DeliveryStatus.Delivered).GroupBy(r => r.Error).OrderByDescending(g => g.Count()).Take(5))
            Console.WriteLine($"  not delivered ({error.Count()}): {error.Key}");
        Drops(b, "b");
        bool exactlyOnce = delivered == messages && probe.Count == messages && probe.Duplicates == 0;
        if (!exactlyOnce) Console.WriteLine("  NOT exactly once: see the counts above");
        return exactlyOnce ? 0 : 1;
    }

    private static void Drops(NeuralBenchPeer peer, string name)
    {
        var drops = peer.Mesh.GetStats().DroppedByTypeAndReason;
        if (drops.Count > 0) Console.WriteLine($"  drops at {name}: {string.Join(", ", drops.Select(d => $"{d.Key}={d.Value}"))}");
    }

    private static double P(IReadOnlyCollection<double> values, double p) => Statistics.Percentile(values, p);

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(Patience.TotalSeconds * Stopwatch.Frequency);
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
