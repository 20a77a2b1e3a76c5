using System.Diagnostics;
using System.Globalization;
using P2PStack.Benchmarks.Stack;
using P2PStack.Network;
using P2PStack.Privacy.Padding;
using static P2PStack.Benchmarks.Padding.PaddingCommand;

namespace P2PStack.Benchmarks.Padding;

/// <summary>
/// <c>padding paced [--runs R] [--messages M] [--rate N] [--idle-s S]</c>: the cost of padding and cover traffic on a
/// link that is mostly idle. Per configuration and run, a new server and client host in this process over loopback TCP
/// (Noise XX, the padding filter, yamux, as the node runs them) and one echo stream; after a warm-up and a 1 s settle,
/// S seconds without any message (the idle window), then M request/echo round trips of 32 bytes and M of 1 KiB, sent
/// at N per second on a fixed schedule (the paced windows). Each host counts the bytes it writes to its socket
/// (<see cref="WireCounter"/>). Configurations take turns within each run. Throughout, a probe sleeps 100 ms at a time
/// and records how late each timer fired: cover, jitter and the pacing all wait on timers, so their lateness on a
/// loaded machine is part of what the figures show.
/// </summary>
internal static class PacedPadding
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);
    private static readonly int[] MessageSizes = [32, 1024];
    private const int NoiseOverhead = 16 + 2; // AEAD tag and length prefix of each Noise transport message

    /// <summary>What one host pair did in one window, summed over runs.</summary>
    private sealed class Window
    {
        public double Seconds;
        public long ClientBytes;
        public long ServerBytes;
        public long ClientCover;
        public long ServerCover;
        public double CpuSeconds;
        public readonly List<double> RttMs = [];

        public void Add(Snapshot before, Snapshot after)
        {
            Seconds += Stopwatch.GetElapsedTime(before.Time, after.Time).TotalSeconds;
            ClientBytes += after.ClientBytes - before.ClientBytes;
            ServerBytes += after.ServerBytes - before.ServerBytes;
            ClientCover += after.ClientCover - before.ClientCover;
            ServerCover += after.ServerCover - before.ServerCover;
            CpuSeconds += (after.Cpu - before.Cpu).TotalSeconds;
        }

        public double WireBytesPerSecond => (ClientBytes + ServerBytes) / Seconds;

        public double CpuMsPerSecond => CpuSeconds * 1000 / Seconds;
    }

    private readonly record struct Snapshot(long Time, long ClientBytes, long ServerBytes, long ClientCover, long ServerCover, TimeSpan Cpu);

    public static int Run(string[] args)
    {
        int runs = Arg(args, "--runs", 3);
        int messages = Arg(args, "--messages", 100);
        int rate = Arg(args, "--rate", 20);
        int idleSeconds = Arg(args, "--idle-s", 5);
        return RunAsync(runs, messages, rate, TimeSpan.FromSeconds(idleSeconds)).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int runs, int messages, int rate, TimeSpan idle)
    {
        Config[] configs =
        [
            new("none (anchor)", null, 0),
            new("cells 1024", 1024, 0),
            new("cells 4096", 4096, 0),
            new("cells 16384", 16384, 0),
            new("cells 1024 + Poisson cover 10/s", 1024, 10, CoverTraffic.Poisson),
            new("cells 1024 + Poisson cover 100/s", 1024, 100, CoverTraffic.Poisson),
            new("cells 1024 + constant cover 10/s", 1024, 10, CoverTraffic.Constant),
            new("cells 1024 + constant cover 100/s", 1024, 100, CoverTraffic.Constant),
            new("cells 1024 + jitter 0–10 ms", 1024, 0, CoverTraffic.None, 10),
        ];
        var idleWindows = configs.ToDictionary(c => c, _ => new Window());
        var pacedWindows = configs.ToDictionary(c => c, _ => MessageSizes.ToDictionary(s => s, _ => new Window()));
        var interval = TimeSpan.FromSeconds(1.0 / rate);
        var lateness = new List<double>();
        using var stopProbe = new CancellationTokenSource();
        var probe = ProbeTimersAsync(lateness, stopProbe.Token);

        for (int run = 0; run < runs; run++)
        {
            foreach (var config in configs)
            {
                await MeasureAsync(config, messages, interval, idle, idleWindows[config], pacedWindows[config]).WaitAsync(Patience);
                var p = pacedWindows[config];
                Console.Error.WriteLine($"run {run + 1}/{runs} {config.Name}: idle {Stats.F(idleWindows[config].WireBytesPerSecond)} B/s, " +
                    $"32 B RTT p50 {Stats.F(Stats.Median(p[32].RttMs), 3)} ms, 1 KiB RTT p50 {Stats.F(Stats.Median(p[1024].RttMs), 3)} ms");
            }
        }

        await stopProbe.CancelAsync();
        await probe;
        Console.WriteLine($"Paced: {messages} request/echo round trips per size and run at {rate}/s, {runs} runs; idle window {idle.TotalSeconds} s per run.");
        Console.WriteLine($"Timer lateness (100 ms sleeps, {lateness.Count} samples): p50 {Stats.F(Stats.Median(lateness), 2)} ms, " +
            $"p90 {Stats.F(Stats.Quantile(lateness, 0.9), 2)} ms, p99 {Stats.F(Stats.Quantile(lateness, 0.99), 2)} ms, max {Stats.F(lateness.Max(), 2)} ms.");
        Console.WriteLine();
        Console.WriteLine("| configuration | 32 B RTT ms p50 / p99 | 1 KiB RTT ms p50 / p99 | idle wire B/s (both directions) | " +
            "idle cells/s on the wire, client→server / server→client (configured) | cover cells/s counted by the senders | " +
            "paced 32 B wire B/s | paced 1 KiB wire B/s | CPU ms/s idle / paced 32 B / paced 1 KiB |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var config in configs)
        {
            var i = idleWindows[config];
            var p = pacedWindows[config];
            string rtt(int size) => $"{Stats.F(Stats.Median(p[size].RttMs), 3)} / {Stats.F(Stats.Quantile(p[size].RttMs, 0.99), 3)}";
            string cells = "—";
            string senders = "—";
            if (config.CellSize is { } cell)
            {
                double configured = config.CoverRate > 0 ? CoverSchedule.For(config.Cover, config.CoverRate, int.MaxValue, cell)!.Rate : 0;
                int record = cell + NoiseOverhead;
                cells = $"{Stats.F(i.ClientBytes / (double)record / i.Seconds, 2)} / {Stats.F(i.ServerBytes / (double)record / i.Seconds, 2)} " +
                    (configured > 0 ? $"({Stats.F(configured, 0)})" : "(no cover)");
                senders = $"{Stats.F(i.ClientCover / i.Seconds, 2)} / {Stats.F(i.ServerCover / i.Seconds, 2)}";
            }
            Console.WriteLine($"| {config.Name} | {rtt(32)} | {rtt(1024)} | {Stats.F(i.WireBytesPerSecond, 0)} | {cells} | {senders} | " +
                $"{Stats.F(p[32].WireBytesPerSecond, 0)} | {Stats.F(p[1024].WireBytesPerSecond, 0)} | " +
                $"{Stats.F(i.CpuMsPerSecond)} / {Stats.F(p[32].CpuMsPerSecond)} / {Stats.F(p[1024].CpuMsPerSecond)} |");
        }
        return 0;
    }

    private static async Task MeasureAsync(Config config, int messages, TimeSpan interval, TimeSpan idle, Window idleWindow,
        Dictionary<int, Window> paced)
    {
        var serverWire = new WireCounter();
        var clientWire = new WireCounter();
        await using var server = await StartAsync(config, serverWire);
        await using var client = await StartAsync(config, clientWire);
        using var registration = server.Host.AddHandler(new EchoHandler());
        var connection = await client.Host.DialAsync(server.Address,
            new DialOptions { Filters = config.CellSize is null ? null : [PaddingFilter.Id], SecurityProtocols = ["/noise"] },
            CancellationToken.None);
        await using var stream = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);

        Snapshot Take()
        {
            long clientCover = config.CellSize is null ? 0 : client.Get<PaddingMetrics>().CoverCellsSent;
            long serverCover = config.CellSize is null ? 0 : server.Get<PaddingMetrics>().CoverCellsSent;
            return new Snapshot(Stopwatch.GetTimestamp(), clientWire.Sent, serverWire.Sent, clientCover, serverCover,
                Process.GetCurrentProcess().TotalProcessorTime);
        }

        var buffers = MessageSizes.ToDictionary(s => s, s => new byte[s]);
        foreach (var buffer in buffers.Values) Random.Shared.NextBytes(buffer);
        foreach (var buffer in buffers.Values)
        {
            for (int i = 0; i < 5; i++) await RoundTripAsync(stream, buffer);
        }
        await Task.Delay(Settle);

        var before = Take();
        await Task.Delay(idle);
        idleWindow.Add(before, Take());

        foreach (var (size, buffer) in buffers)
        {
            var window = paced[size];
            before = Take();
            for (int i = 0; i < messages; i++)
            {
                // A fixed schedule: message i leaves at start + i x interval (at once when the previous one was late).
                var wait = interval * i - Stopwatch.GetElapsedTime(before.Time);
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                long start = Stopwatch.GetTimestamp();
                await RoundTripAsync(stream, buffer);
                window.RttMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            // The window ends one interval after the last message left, so that it holds M whole intervals.
            var rest = interval * messages - Stopwatch.GetElapsedTime(before.Time);
            if (rest > TimeSpan.Zero) await Task.Delay(rest);
            window.Add(before, Take());
        }
    }

    private static async Task ProbeTimersAsync(List<double> lateness, CancellationToken cancellationToken)
    {
        var sleep = TimeSpan.FromMilliseconds(100);
        try
        {
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                await Task.Delay(sleep, cancellationToken);
                lateness.Add((Stopwatch.GetElapsedTime(start) - sleep).TotalMilliseconds);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private static async Task RoundTripAsync(IStream stream, byte[] message)
    {
        await stream.Output.WriteAsync(message);
        long received = 0;
        while (received < message.Length)
        {
            var result = await stream.Input.ReadAsync();
            received += result.Buffer.Length;
            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted && received < message.Length) throw new EndOfStreamException("the echo stream ended");
        }
    }

    /// <summary>Echoes every byte back until the remote half-closes.</summary>
    private sealed class EchoHandler : IProtocolHandler
    {
        public const string Protocol = "/bench/echo/1.0.0";

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                await stream.Input.CopyToAsync(stream.Output, cancellationToken);
                await stream.Output.CompleteAsync();
            }
        }
    }
}
