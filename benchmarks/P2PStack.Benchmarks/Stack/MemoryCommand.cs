using System.Diagnostics;
using P2PStack.Security.Noise;

namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// <c>memory --connections N [--parallel P]</c>: memory per idle connection. One listening host and N dialing hosts
/// live in this process (a host keeps one connection per peer, so each connection needs its own dialer). The hosts
/// are built and started first; the baseline is taken after that and after a few warm-up connections, so the delta
/// is what N idle connections cost at both ends (dialer and listener side, TCP + Noise + Yamux).
/// </summary>
internal static class MemoryCommand
{
    private const int WarmupConnections = 16;

    public static async Task<int> RunAsync(StackArgs args)
    {
        int count = args.Int("connections", 1000);
        int parallel = args.Int("parallel", 16);
        int settleMs = args.Int("settle-ms", 2000);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var token = timeout.Token;

        await using var server = await StackPeer.StartAsync("/ip4/127.0.0.1/tcp/0", PostQuantumLevel.Classical, host =>
        {
            host.Limits.MaxConnections = count + WarmupConnections + 64;
            host.Limits.MaxPendingInbound = Math.Max(64, parallel * 2);
            host.Limits.MaxPendingInboundPerIp = parallel * 2; // every dialer is on 127.0.0.1
            host.ConnectionManager.HighWater = count + WarmupConnections + 64;
            host.ConnectionManager.LowWater = count + WarmupConnections;
        });
        var dialers = new List<StackPeer>(count + WarmupConnections);
        try
        {
            for (int i = 0; i < count + WarmupConnections; i++)
                dialers.Add(await StackPeer.StartAsync(null, PostQuantumLevel.Classical));

            // Warm-up: JIT, pools and the listener's first accepts, then close again.
            foreach (var dialer in dialers.Take(WarmupConnections))
            {
                var connection = await dialer.Host.DialAsync(server.Address, token);
                await connection.CloseAsync(token);
            }
            var before = Measure();

            var address = server.Address;
            await Parallel.ForEachAsync(dialers.Skip(WarmupConnections), new ParallelOptions
            {
                MaxDegreeOfParallelism = parallel,
                CancellationToken = token,
            }, async (dialer, ct) => await dialer.Host.DialAsync(address, ct));
            // The listener registers a connection when its side of the upgrade is done, a moment after the dialer's.
            var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
            while (server.Host.GetConnections().Count < count && Stopwatch.GetTimestamp() < deadline)
                await Task.Delay(10, token);
            int established = server.Host.GetConnections().Count;
            if (established != count) throw new InvalidOperationException($"the listener holds {established} connections, expected {count}");
            await Task.Delay(settleMs, token);
            var after = Measure();
            int stillOpen = server.Host.GetConnections().Count;
            if (stillOpen != count) throw new InvalidOperationException($"{count - stillOpen} connections closed while idle");

            StackJson.Write(new
            {
                connections = count,
                managedBytesPerConnection = (after.Managed - before.Managed) / (double)count,
                workingSetBytesPerConnection = (after.WorkingSet - before.WorkingSet) / (double)count,
                managedBefore = before.Managed,
                managedAfter = after.Managed,
                workingSetBefore = before.WorkingSet,
                workingSetAfter = after.WorkingSet,
            });
            return 0;
        }
        finally
        {
            foreach (var dialer in dialers) await dialer.DisposeAsync();
        }
    }

    private static (long Managed, long WorkingSet) Measure()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return (managed, process.WorkingSet64);
    }
}
