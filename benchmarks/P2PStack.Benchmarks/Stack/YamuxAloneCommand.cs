using System.Diagnostics;
using System.IO.Pipelines;
using P2PStack.IO;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;

namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// <c>yamux-alone --mib N --samples S</c>: yamux by itself, for changes to its writer: two sessions over an in-memory
/// duplex pipe in this process (no security, no socket), one stream per sample written as perf writes it (64 KiB
/// <c>WriteAsync</c>s, then complete) while the other end drains it. Two 256 MiB warm-ups, then S samples of N MiB;
/// prints MiB/s and the process's CPU per MiB for each. Run it in alternation with the build to compare against.
/// </summary>
internal static class YamuxAloneCommand
{
    public static async Task<int> RunAsync(StackArgs args)
    {
        long bytes = (long)args.Int("mib", 512) << 20;
        int samples = args.Int("samples", 4);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var pipeOptions = new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false);
        var (a, b) = DuplexPipe.CreatePair(pipeOptions);
        await using var client = new YamuxSession(a, Direction.Outbound, new YamuxOptions { EnableKeepAlive = false });
        await using var server = new YamuxSession(b, Direction.Inbound, new YamuxOptions { EnableKeepAlive = false });
        var chunk = new byte[64 * 1024];

        await SampleAsync(client, server, chunk, 256L << 20, timeout.Token);
        await SampleAsync(client, server, chunk, 256L << 20, timeout.Token);
        var rates = new List<double>();
        var cpuPerMiB = new List<double>();
        for (int i = 0; i < samples; i++)
        {
            var (rate, cpu) = await SampleAsync(client, server, chunk, bytes, timeout.Token);
            rates.Add(rate);
            cpuPerMiB.Add(cpu);
        }

        StackJson.Write(new { bytes, samples, mibPerSecond = rates, cpuMsPerMiB = cpuPerMiB });
        return 0;
    }

    private static async Task<(double Rate, double CpuMsPerMiB)> SampleAsync(
        YamuxSession client, YamuxSession server, byte[] chunk, long bytes, CancellationToken token)
    {
        var accept = server.AcceptStreamAsync(token).AsTask();
        var sending = await client.OpenStreamAsync(token);
        var receiving = await accept;
        var drain = Task.Run(async () =>
        {
            long received = 0;
            while (true)
            {
                var read = await receiving.Input.ReadAsync(token);
                received += read.Buffer.Length;
                receiving.Input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted) return received;
            }
        }, token);

        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        for (long left = bytes; left > 0; left -= chunk.Length)
        {
            await sending.Output.WriteAsync(chunk, token);
        }

        await sending.Output.CompleteAsync();
        long got = await drain;
        var elapsed = Stopwatch.GetElapsedTime(start);
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        if (got != bytes) throw new InvalidDataException($"yamux-alone: sent {bytes} bytes, received {got}");
        await receiving.Output.CompleteAsync();
        await sending.DisposeAsync();
        await receiving.DisposeAsync();
        double mib = bytes / (double)(1 << 20);
        return (mib / elapsed.TotalSeconds, cpu.TotalMilliseconds / mib);
    }
}
