using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace P2PStack.Benchmarks.Onion;

/// <summary>
/// <c>tor-loopback [--builds 200] [--echoes 1000] [--mib 32] [--relays 5] [--authorities 3] [--schedulers default,Vanilla]
/// [--bootstrap-timeout 300]</c>: the anchor of <see cref="OnionLoopback"/>, Debian's <c>tor</c> as a private network
/// on 127.0.0.1 (<see cref="TorNetwork"/>: directory authorities with <c>TestingTorNetwork 1</c>, relays, one client
/// driven through its control port). Measures what the onion benchmark measures, the same way: 3-hop circuit build
/// (EXTENDCIRCUIT over a fixed path of three relays until the CIRC BUILT event; the client's link to the first relay is
/// up after the warm-up), 1-byte echo on one stream through the circuit (SOCKS5 to a TCP echo server, the stream
/// attached to the circuit), one stream's throughput to a TCP sink that answers with the byte count, and the CPU time
/// of each of the three relay processes per MiB (real processes: read per relay from /proc). Plain TCP to the same
/// echo server and sink is the direct figure of the same run. With several schedulers (<c>Schedulers</c> of every node
/// set through its control port between rounds) each round is measured on the same network.
/// </summary>
public static class TorLoopback
{
    public static int Run(string[] args)
    {
        int builds = Arg(args, "--builds", 200);
        int echoes = Arg(args, "--echoes", 1000);
        int mib = Arg(args, "--mib", 32);
        int relays = Arg(args, "--relays", 5);
        int authorities = Arg(args, "--authorities", 3);
        var bootstrap = TimeSpan.FromSeconds(Arg(args, "--bootstrap-timeout", 300));
        int s = Array.IndexOf(args, "--schedulers");
        string[] schedulers = s >= 0 && s + 1 < args.Length ? args[s + 1].Split(',') : ["default", "Vanilla"];
        RunAsync(builds, echoes, mib, relays, authorities, schedulers, bootstrap, Console.Out).GetAwaiter().GetResult();
        return 0;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    public static async Task RunAsync(int builds, int echoes, int mib, int relayCount, int authorities, string[] schedulers,
        TimeSpan bootstrap, TextWriter output)
    {
        if (relayCount < 3) throw new ArgumentOutOfRangeException(nameof(relayCount), "a 3-hop path needs 3 relays");
        using var servers = new TcpServers();
        var started = Stopwatch.StartNew();
        await using var network = await TorNetwork.StartAsync(authorities, relayCount, schedulers: null, CancellationToken.None);
        output.WriteLine($"tor loopback: {authorities} directory authorities, {relayCount} relays, 1 client ({Version()}); "
            + $"{Environment.ProcessorCount} cores; 1-min load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        await network.WaitReadyAsync(bootstrap, output, CancellationToken.None);
        output.WriteLine($"bootstrapped in {started.Elapsed.TotalSeconds:F0} s");
        var path = network.Relays.Take(3).ToList();

        await using var control = await TorControl.ConnectAsync(network.Client.ControlPort, CancellationToken.None);
        await control.CommandAsync("SETEVENTS CIRC STREAM", CancellationToken.None);
        foreach (var scheduler in schedulers)
        {
            if (scheduler != "default")
            {
                foreach (var node in network.Authorities.Concat(network.Relays).Append(network.Client))
                {
                    await using var c = await TorControl.ConnectAsync(node.ControlPort, CancellationToken.None);
                    await c.CommandAsync($"SETCONF Schedulers={scheduler}", CancellationToken.None);
                }
            }
            output.WriteLine($"-- Schedulers {(scheduler == "default" ? "default (KIST,KISTLite,Vanilla)" : scheduler)}");
            await MeasureAsync(control, network, path, servers, builds, echoes, mib, output);
        }
        output.WriteLine("-- direct TCP to the same servers (no Tor, no encryption)");
        var echo = await DirectEchoAsync(servers.EchoPort, echoes);
        output.WriteLine($"direct: 1-byte echo (ms, {echoes} after 50 warm-up): p50 {P(echo, 50)}, p10 {P(echo, 10)}, p90 {P(echo, 90)}");
    }

    private static async Task MeasureAsync(TorControl control, TorNetwork network, List<TorNode> path, TcpServers servers,
        int builds, int echoes, int mib, TextWriter output)
    {
        string hops = string.Join(',', path.Select(r => "$" + r.Fingerprint));
        var buildMs = new List<double>();
        string circuit = "";
        int failed = 0;
        for (int i = 0; i < builds + 10; i++)
        {
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1)); // a hang guard, not a measurement
            long start = Stopwatch.GetTimestamp();
            var reply = await control.CommandAsync($"EXTENDCIRCUIT 0 {hops}", guard.Token);
            circuit = reply[^1].Split(' ')[2]; // "250 EXTENDED <id>"
            long built;
            try
            {
                built = await WaitCircuitAsync(control, circuit, guard.Token);
            }
            catch (InvalidOperationException e)
            {
                // Counted and reported; the build is tried again.
                if (++failed > builds / 10 + 3) throw;
                output.WriteLine($"  build failed, again: {e.Message}");
                i--;
                continue;
            }
            if (i >= 10) buildMs.Add(Stopwatch.GetElapsedTime(start, built).TotalMilliseconds);
            if (i < builds + 9) await control.CommandAsync($"CLOSECIRCUIT {circuit}", guard.Token);
        }
        output.WriteLine($"3-hop build (ms, {builds} after 10 warm-up; {failed} failed): p50 {P(buildMs, 50)}, p10 {P(buildMs, 10)}, p90 {P(buildMs, 90)}");

        using (var echo = await OpenStreamAsync(control, network.Client.SocksPort, servers.EchoPort, circuit))
        {
            var rtt = await EchoAsync(echo.GetStream(), echoes);
            output.WriteLine($"circuit: 1-byte echo (ms, {echoes} after 50 warm-up): p50 {P(rtt, 50)}, p10 {P(rtt, 10)}, p90 {P(rtt, 90)}");
        }
        for (int round = 0; round < 2; round++)
        {
            using var sink = await OpenStreamAsync(control, network.Client.SocksPort, servers.SinkPort, circuit);
            var cpuBefore = path.Select(r => r.CpuTime()).ToArray();
            var clientBefore = network.Client.CpuTime();
            var watch = Stopwatch.StartNew();
            await SendAsync(sink.GetStream(), (long)mib << 20);
            watch.Stop();
            var perRelay = path.Select((r, i) => (r.CpuTime() - cpuBefore[i]).TotalMilliseconds / mib).ToArray();
            double client = (network.Client.CpuTime() - clientBefore).TotalMilliseconds / mib;
            output.WriteLine($"circuit: {mib} MiB on one stream in {watch.Elapsed.TotalSeconds:F2} s = {mib / watch.Elapsed.TotalSeconds:F1} MiB/s; "
                + $"relay CPU per MiB (guard, middle, exit) {string.Join(", ", perRelay.Select(v => v.ToString("F1", CultureInfo.InvariantCulture)))} ms; "
                + $"client {client:F1} ms");
        }
        await control.CommandAsync($"CLOSECIRCUIT {circuit}", CancellationToken.None);
    }

    // The CIRC event that ends the build: its time, or an exception when it failed.
    private static async Task<long> WaitCircuitAsync(TorControl control, string circuit, CancellationToken cancellationToken)
    {
        while (true)
        {
            var (time, line) = await control.Events.Reader.ReadAsync(cancellationToken);
            var parts = line.Split(' ');
            if (parts.Length < 3 || parts[0] != "CIRC" || parts[1] != circuit) continue;
            if (parts[2] == "BUILT") return time;
            if (parts[2] is "FAILED" or "CLOSED") throw new InvalidOperationException($"circuit {circuit} failed: {line}");
        }
    }

    // SOCKS5 CONNECT to 127.0.0.1:port through the client; the stream is attached to the circuit by hand.
    private static async Task<TcpClient> OpenStreamAsync(TorControl control, int socksPort, int port, string circuit)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, socksPort, guard.Token);
            var s = tcp.GetStream();
            await s.WriteAsync(new byte[] { 5, 1, 0 }, guard.Token);
            var hello = new byte[2];
            await s.ReadExactlyAsync(hello, guard.Token);
            if (hello[0] != 5 || hello[1] != 0) throw new InvalidOperationException("SOCKS5 greeting refused");
            var connect = new byte[10];
            connect[0] = 5;
            connect[1] = 1;
            connect[3] = 1;
            IPAddress.Loopback.GetAddressBytes().CopyTo(connect, 4);
            BinaryPrimitives.WriteUInt16BigEndian(connect.AsSpan(8), (ushort)port);
            await s.WriteAsync(connect, guard.Token);
            while (true)
            {
                var (_, line) = await control.Events.Reader.ReadAsync(guard.Token);
                var parts = line.Split(' ');
                if (parts.Length >= 5 && parts[0] == "STREAM" && parts[2] == "NEW" && parts[4] == $"127.0.0.1:{port}")
                {
                    await control.CommandAsync($"ATTACHSTREAM {parts[1]} {circuit}", guard.Token);
                    break;
                }
            }
            var answer = new byte[10];
            await s.ReadExactlyAsync(answer, guard.Token);
            if (answer[1] != 0) throw new InvalidOperationException($"SOCKS5 CONNECT failed (reply {answer[1]})");
            return tcp;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    private static async Task<List<double>> EchoAsync(NetworkStream stream, int count)
    {
        var samples = new List<double>();
        var one = new byte[] { 42 };
        var back = new byte[1];
        for (int i = 0; i < count + 50; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await stream.WriteAsync(one);
            await stream.ReadExactlyAsync(back);
            if (i >= 50) samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return samples;
    }

    private static async Task<List<double>> DirectEchoAsync(int port, int count)
    {
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        return await EchoAsync(tcp.GetStream(), count);
    }

    // The byte count first (Tor has no half-closed streams), then the bytes; the sink answers with what it read.
    private static async Task SendAsync(NetworkStream stream, long bytes)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(header, bytes);
        await stream.WriteAsync(header);
        var chunk = new byte[64 * 1024];
        for (long sent = 0; sent < bytes; sent += chunk.Length)
            await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - sent)));
        var count = new byte[8];
        await stream.ReadExactlyAsync(count);
        if (BinaryPrimitives.ReadInt64BigEndian(count) != bytes) throw new InvalidOperationException("the sink read a different count");
    }

    private static string P(List<double> values, double p) =>
        P2PStack.Simulation.Statistics.Percentile(values, p).ToString("F3", CultureInfo.InvariantCulture);

    private static string Version()
    {
        using var process = Process.Start(new ProcessStartInfo("tor", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
        string first = process.StandardOutput.ReadLine() ?? "tor";
        process.WaitForExit();
        return first.TrimEnd('.');
    }

    /// <summary>The echo server and the counting sink on 127.0.0.1 (port 0), one task per connection.</summary>
    private sealed class TcpServers : IDisposable
    {
        private readonly TcpListener _echo = new(IPAddress.Loopback, 0);
        private readonly TcpListener _sink = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        public TcpServers()
        {
            _echo.Start();
            _sink.Start();
            _ = AcceptAsync(_echo, EchoAsync);
            _ = AcceptAsync(_sink, SinkAsync);
        }

        public int EchoPort => ((IPEndPoint)_echo.LocalEndpoint).Port;

        public int SinkPort => ((IPEndPoint)_sink.LocalEndpoint).Port;

        private async Task AcceptAsync(TcpListener listener, Func<NetworkStream, CancellationToken, Task> serve)
        {
            try
            {
                while (true)
                {
                    var tcp = await listener.AcceptTcpClientAsync(_stop.Token);
                    tcp.NoDelay = true;
                    _ = Task.Run(async () =>
                    {
                        using (tcp)
                        {
                            try
                            {
                                await serve(tcp.GetStream(), _stop.Token);
                            }
                            catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
                            {
                                // The client went away.
                            }
                        }
                    });
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped.
            }
        }

        private static async Task EchoAsync(NetworkStream stream, CancellationToken cancellationToken)
        {
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0) await stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
        }

        private static async Task SinkAsync(NetworkStream stream, CancellationToken cancellationToken)
        {
            var header = new byte[8];
            await stream.ReadExactlyAsync(header, cancellationToken);
            long expected = BinaryPrimitives.ReadInt64BigEndian(header);
            var buffer = new byte[64 * 1024];
            long total = 0;
            while (total < expected)
            {
                int n = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, expected - total)), cancellationToken);
                if (n == 0) break;
                total += n;
            }
            var count = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(count, total);
            await stream.WriteAsync(count, cancellationToken);
        }

        public void Dispose()
        {
            _stop.Cancel();
            _echo.Stop();
            _sink.Stop();
            _stop.Dispose();
        }
    }
}
