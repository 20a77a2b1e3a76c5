using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;
using P2PStack.Protocols.Perf;
using P2PStack.Security.Noise;

namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// Single-stream throughput. Every run moves the volume one way only (upload: N bytes up, 0 back; download: 0 up,
/// N back) and is timed from opening the stream to the end of the response, so upload includes the server's
/// confirmation that it drained everything. js's client (interop/js/bench-node.mjs) times the same span.
/// </summary>
internal static class ThroughputCommands
{
    private const int ChunkSize = 64 * 1024;

    /// <summary><c>serve</c>: a host with perf and ping on 127.0.0.1, every Noise suite; runs until stdin closes.</summary>
    public static async Task<int> ServeAsync(StackArgs args)
    {
        await using var peer = await StackPeer.StartAsync("/ip4/127.0.0.1/tcp/0", suite: null, host =>
        {
            host.Limits.MaxConnections = 4096;
            host.Limits.MaxConnectionsPerPeer = 4096;
            host.Limits.MaxPendingInbound = 256;
            host.Limits.MaxPendingInboundPerIp = 256; // every client is on 127.0.0.1
            host.ConnectionManager.HighWater = 4096;
            host.ConnectionManager.LowWater = 4000;
        });
        Console.WriteLine($"LISTEN {peer.Address}");
        await Task.Run(() => Console.In.ReadToEnd());
        return 0;
    }

    /// <summary><c>perf --addr A --bytes N --runs R [--warmup-bytes W]</c>: our perf client over one connection.</summary>
    public static async Task<int> PerfAsync(StackArgs args)
    {
        var address = Multiaddr.Parse(args.Required("addr"));
        long bytes = args.Bytes("bytes", 1L << 30);
        int runs = args.Int("runs", 3);
        long warmup = args.Bytes("warmup-bytes", 64L << 20);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        var token = timeout.Token;

        await using var peer = await StackPeer.StartAsync(null, PostQuantumLevel.Classical);
        var connection = await peer.Host.DialAsync(address, token);
        var perf = peer.Get<PerfService>();
        var remote = connection.RemotePeer;
        if (warmup > 0)
        {
            await perf.RunAsync(remote, (ulong)warmup, 0, token);
            await perf.RunAsync(remote, 0, (ulong)warmup, token);
        }
        var upload = new List<double>();
        var download = new List<double>();
        var cpu = new CpuMeter(ServerPid(args));
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await perf.RunAsync(remote, (ulong)bytes, 0, token);
            upload.Add(Stats.MiBps(bytes, Stopwatch.GetElapsedTime(start)));
            start = Stopwatch.GetTimestamp();
            await perf.RunAsync(remote, 0, (ulong)bytes, token);
            download.Add(Stats.MiBps(bytes, Stopwatch.GetElapsedTime(start)));
        }
        var (clientCpu, serverCpu) = cpu.Elapsed();
        StackJson.Write(new { bytes, runs, security = connection.SecurityProtocol, muxer = connection.Muxer, upload, download,
            clientCpuPerGiB = clientCpu / (2.0 * runs * bytes / (1L << 30)), serverCpuPerGiB = serverCpu / (2.0 * runs * bytes / (1L << 30)) });
        return 0;
    }

    /// <summary><c>raw-serve</c>: the perf exchange over a bare TCP socket (no security, no muxer).</summary>
    public static async Task<int> RawServeAsync(StackArgs args)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        Console.WriteLine($"LISTEN {((IPEndPoint)listener.LocalEndPoint!).Port}");
        using var stop = new CancellationTokenSource();
        // Console.In reads synchronously even through its async methods: wait for the end of stdin on its own thread.
        _ = Task.Run(() =>
        {
            Console.In.ReadToEnd();
            stop.Cancel();
        });
        try
        {
            while (true)
            {
                var socket = await listener.AcceptAsync(stop.Token);
                _ = ServeRawAsync(socket, stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
            return 0;
        }
    }

    private static async Task ServeRawAsync(Socket socket, CancellationToken token)
    {
        using (socket)
        {
            socket.NoDelay = true;
            var buffer = new byte[ChunkSize];
            if (!await ReadExactlyAsync(socket, buffer.AsMemory(0, 8), token)) return;
            long requested = (long)BinaryPrimitives.ReadUInt64BigEndian(buffer);
            while (await socket.ReceiveAsync(buffer, token) > 0)
            {
            }
            Array.Clear(buffer);
            await SendZerosAsync(socket, buffer, requested, token);
            socket.Shutdown(SocketShutdown.Send);
        }
    }

    /// <summary><c>raw-perf --port P --bytes N --runs R</c>: one fresh socket per run (end of stream delimits).</summary>
    public static async Task<int> RawPerfAsync(StackArgs args)
    {
        int port = args.Int("port", 0);
        long bytes = args.Bytes("bytes", 1L << 30);
        int runs = args.Int("runs", 3);
        long warmup = args.Bytes("warmup-bytes", 64L << 20);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(20));
        if (warmup > 0)
        {
            await RawRunAsync(port, warmup, 0, timeout.Token);
            await RawRunAsync(port, 0, warmup, timeout.Token);
        }
        var upload = new List<double>();
        var download = new List<double>();
        var cpu = new CpuMeter(ServerPid(args));
        for (int i = 0; i < runs; i++)
        {
            upload.Add(Stats.MiBps(bytes, await RawRunAsync(port, bytes, 0, timeout.Token)));
            download.Add(Stats.MiBps(bytes, await RawRunAsync(port, 0, bytes, timeout.Token)));
        }
        var (clientCpu, serverCpu) = cpu.Elapsed();
        StackJson.Write(new { bytes, runs, upload, download,
            clientCpuPerGiB = clientCpu / (2.0 * runs * bytes / (1L << 30)), serverCpuPerGiB = serverCpu / (2.0 * runs * bytes / (1L << 30)) });
        return 0;
    }

    private static async Task<TimeSpan> RawRunAsync(int port, long upload, long download, CancellationToken token)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), token);
        var buffer = new byte[ChunkSize];
        long start = Stopwatch.GetTimestamp();
        BinaryPrimitives.WriteUInt64BigEndian(buffer, (ulong)download);
        await socket.SendAsync(buffer.AsMemory(0, 8), token);
        Array.Clear(buffer, 0, 8);
        await SendZerosAsync(socket, buffer, upload, token);
        socket.Shutdown(SocketShutdown.Send);
        long received = 0;
        int n;
        while ((n = await socket.ReceiveAsync(buffer, token)) > 0) received += n;
        var elapsed = Stopwatch.GetElapsedTime(start);
        if (received != download) throw new InvalidDataException($"raw perf: asked for {download} bytes, got {received}");
        return elapsed;
    }

    private static int? ServerPid(StackArgs args) => args.Int("server-pid", 0) is > 0 and var pid ? pid : null;

    private static async Task SendZerosAsync(Socket socket, byte[] zeros, long count, CancellationToken token)
    {
        while (count > 0)
        {
            int chunk = (int)Math.Min(count, zeros.Length);
            await socket.SendAsync(zeros.AsMemory(0, chunk), token);
            count -= chunk;
        }
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken token)
    {
        while (buffer.Length > 0)
        {
            int n = await socket.ReceiveAsync(buffer, token);
            if (n == 0) return false;
            buffer = buffer[n..];
        }
        return true;
    }
}
