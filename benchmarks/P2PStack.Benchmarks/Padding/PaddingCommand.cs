using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Benchmarks.Stack;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Privacy.Padding;
using P2PStack.Protocols.Ping;

namespace P2PStack.Benchmarks.Padding;

/// <summary>
/// <c>padding [--mib N] [--runs R] [--pings P]</c>: the cost of the padding filter. One server and one client host in
/// this process over loopback TCP (Noise XX + yamux); per configuration, one connection: none (the anchor), padding
/// with a single cell size of 1024, 4096 and 16384 bytes, and 1024-byte cells with cover traffic at 10 and 100 cells/s.
/// Throughput: N MiB on one stream to a sink, R runs per configuration, configurations taking turns. Latency: P pings
/// (32 bytes each way) per configuration and run. <c>padding paced ...</c> measures paced traffic with idle gaps
/// instead (<see cref="PacedPadding"/>).
/// </summary>
internal static class PaddingCommand
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);
    private const string Sink = "/bench/sink/1.0.0";

    /// <summary>A configuration: no filter when <paramref name="CellSize"/> is null, else one cell size, cover cells
    /// of <paramref name="Cover"/> at <paramref name="CoverRate"/> (0: none, budget unlimited) and a jitter bound.</summary>
    internal sealed record Config(string Name, int? CellSize, double CoverRate, CoverTraffic Cover = CoverTraffic.Poisson, double JitterMs = 0);

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "paced") return PacedPadding.Run(args[1..]);
        int mib = Arg(args, "--mib", 64);
        int runs = Arg(args, "--runs", 5);
        int pings = Arg(args, "--pings", 200);
        return RunAsync(mib, runs, pings).GetAwaiter().GetResult();
    }

    internal static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static async Task<int> RunAsync(int mib, int runs, int pings)
    {
        Config[] configs =
        [
            new("none (anchor)", null, 0),
            new("cells 1024", 1024, 0),
            new("cells 4096", 4096, 0),
            new("cells 16384", 16384, 0),
            new("cells 1024 + cover 10/s", 1024, 10),
            new("cells 1024 + cover 100/s", 1024, 100),
        ];
        var throughput = configs.ToDictionary(c => c, _ => new List<double>());
        var rtts = configs.ToDictionary(c => c, _ => new List<double>());
        var wireRatio = configs.ToDictionary(c => c, _ => 0.0);
        long bytes = mib * 1024L * 1024L;

        for (int run = 0; run < runs; run++)
        {
            foreach (var config in configs)
            {
                await using var server = await StartAsync(config);
                await using var client = await StartAsync(config);
                var sink = new SinkHandler();
                using var registration = server.Host.AddHandler(sink);
                var connection = await client.Host.DialAsync(server.Address,
                    new DialOptions { Filters = config.CellSize is null ? null : [PaddingFilter.Id], SecurityProtocols = ["/noise"] },
                    CancellationToken.None).AsTask().WaitAsync(Patience);

                // Latency: pings on one stream.
                await using (var ping = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None))
                {
                    var samples = await client.Get<PingService>().PingAsync(ping, pings, CancellationToken.None).WaitAsync(Patience);
                    rtts[config].AddRange(samples.Skip(1).Select(s => s.TotalMilliseconds));
                }

                // Throughput: one stream, 64 KiB writes, timed until the sink has everything.
                var buffer = new byte[64 * 1024];
                Random.Shared.NextBytes(buffer);
                await using var stream = await connection.OpenStreamAsync([Sink], CancellationToken.None);
                var watch = Stopwatch.StartNew();
                for (long sent = 0; sent < bytes; sent += buffer.Length) await stream.Output.WriteAsync(buffer);
                await stream.Output.CompleteAsync();
                await sink.Done.WaitAsync(Patience);
                watch.Stop();
                throughput[config].Add(Stats.MiBps(bytes, watch.Elapsed));
                if (config.CellSize is not null)
                {
                    var metrics = client.Get<PaddingMetrics>();
                    wireRatio[config] = (double)(metrics.PayloadBytesSent + metrics.PaddingBytesSent) / metrics.PayloadBytesSent;
                }
                Console.Error.WriteLine($"run {run + 1}/{runs} {config.Name}: {Stats.F(throughput[config][^1])} MiB/s");
            }
        }

        var anchorThroughput = Stats.Median(throughput[configs[0]]);
        var anchorRtt = Stats.Median(rtts[configs[0]]);
        Console.WriteLine($"| configuration | throughput MiB/s, median (min–max) of {runs} | vs anchor | ping RTT ms, median (p10–p90) of {runs}×{pings - 1} | p99 | vs anchor (median) | cell bytes sent / payload bytes |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var config in configs)
        {
            var t = throughput[config];
            var r = rtts[config];
            Console.WriteLine($"| {config.Name} | {Stats.MedianRange(t)} | {Stats.F(Stats.Median(t) / anchorThroughput, 2)} | " +
                $"{Stats.MedianP10P90(r, 3)} | {Stats.F(Stats.Quantile(r, 0.99), 3)} | {Stats.F(Stats.Median(r) / anchorRtt, 2)} | " +
                $"{(config.CellSize is null ? "—" : Stats.F(wireRatio[config], 3))} |");
        }
        return 0;
    }

    /// <summary>A host for <paramref name="config"/> on loopback TCP; <paramref name="wire"/>, when given, counts the
    /// bytes it writes to its sockets.</summary>
    internal static async Task<BenchHost> StartAsync(Config config, WireCounter? wire = null)
    {
        var services = new ServiceCollection();
        if (wire is not null) services.AddSingleton<IConnectionProtector>(wire);
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn("/ip4/127.0.0.1/tcp/0").AddTcpTransport().AddNoise().AddYamux().AddPing();
            if (config.CellSize is { } size)
            {
                p2p.AddPadding(o =>
                {
                    o.CellSizes.Clear();
                    o.CellSizes.Add(size);
                    if (config.CoverRate > 0)
                    {
                        o.Cover = config.Cover;
                        o.CoverRate = config.CoverRate;
                        o.CoverBudgetBytesPerSecond = int.MaxValue;
                    }
                    o.MaxJitter = TimeSpan.FromMilliseconds(config.JitterMs);
                });
            }
        });
        var host = new BenchHost(services.BuildServiceProvider());
        await host.Host.StartAsync(CancellationToken.None);
        return host;
    }

    internal sealed class BenchHost(ServiceProvider services) : IAsyncDisposable
    {
        public PeerHost Host { get; } = services.GetRequiredService<PeerHost>();

        public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

        public T Get<T>() where T : notnull => services.GetRequiredService<T>();

        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            await services.DisposeAsync();
        }
    }

    private sealed class SinkHandler : IProtocolHandler
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<string> Protocols { get; } = [Sink];

        public Task Done => _done.Task;

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                while (true)
                {
                    var result = await stream.Input.ReadAsync(cancellationToken);
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
            }
            _done.TrySetResult();
        }
    }
}
