using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Daemon.Pb;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Daemon.Tests;

/// <summary>A daemon in this process, composed as `synaptic-mesh daemon` composes it, on 127.0.0.1 (TCP port 0).</summary>
internal sealed class TestDaemon : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly ServiceProvider _services;
    private readonly List<IHostedService> _started = [];

    private TestDaemon(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<IPeerHost>();
        Control = services.GetRequiredService<DaemonControlServer>();
    }

    public IPeerHost Host { get; }

    public DaemonControlServer Control { get; }

    public Multiaddr ControlAddress => Control.ListenAddress!;

    /// <summary>The node's address with /p2p, to dial it.</summary>
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public static async Task<TestDaemon> StartAsync(Action<DaemonNodeSettings>? settings = null, Action<DaemonOptions>? options = null)
    {
        var nodeSettings = new DaemonNodeSettings();
        nodeSettings.HostAddresses.Clear();
        nodeSettings.HostAddresses.Add(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"));
        settings?.Invoke(nodeSettings);
        var daemonOptions = new DaemonOptions { ControlAddress = Multiaddr.Parse("/ip4/127.0.0.1/tcp/0") };
        options?.Invoke(daemonOptions);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddP2PDaemon(nodeSettings, daemonOptions);
        var daemon = new TestDaemon(services.BuildServiceProvider());
        try
        {
            foreach (var hosted in daemon._services.GetServices<IHostedService>())
            {
                await hosted.StartAsync(CancellationToken.None);
                daemon._started.Add(hosted);
            }
        }
        catch
        {
            await daemon.DisposeAsync();
            throw;
        }
        return daemon;
    }

    /// <summary>A new control connection.</summary>
    public Task<ControlClient> ConnectAsync() => ControlClient.ConnectAsync(ControlAddress);

    /// <summary>Sends one request on a new connection and reads one response.</summary>
    public async Task<Response> RequestAsync(Request request)
    {
        await using var client = await ConnectAsync();
        await client.SendAsync(request);
        return await client.ReadAsync(Response.Parser);
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = _started.Count - 1; i >= 0; i--) await _started[i].StopAsync(CancellationToken.None);
        await _services.DisposeAsync();
    }
}

/// <summary>A raw client of the control protocol: length-prefixed messages, then raw bytes.</summary>
internal sealed class ControlClient : IAsyncDisposable
{
    private readonly NetworkStream _stream;

    private ControlClient(Socket socket)
    {
        Socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        Reader = System.IO.Pipelines.PipeReader.Create(_stream);
    }

    public Socket Socket { get; }

    public System.IO.Pipelines.PipeReader Reader { get; }

    public static ControlClient Wrap(Socket socket) => new(socket);

    public static async Task<ControlClient> ConnectAsync(Multiaddr address)
    {
        var socket = await ControlEndpoint.ConnectAsync(address, CancellationToken.None);
        return new ControlClient(socket);
    }

    public async Task SendAsync(IMessage message)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        LengthPrefixed.WriteMessage(buffer, message);
        await SendRawAsync(buffer.WrittenMemory);
    }

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes) => await _stream.WriteAsync(bytes);

    public async Task<T> ReadAsync<T>(MessageParser<T> parser) where T : IMessage<T>
    {
        using var timeout = new CancellationTokenSource(TestDaemon.Patience);
        return await LengthPrefixed.ReadMessageAsync(Reader, 4 * 1024 * 1024, s => parser.ParseFrom(s), timeout.Token);
    }

    /// <summary>Reads until the daemon closes its sending side; returns what came.</summary>
    public async Task<byte[]> ReadToEndAsync()
    {
        using var timeout = new CancellationTokenSource(TestDaemon.Patience);
        var all = new List<byte>();
        while (true)
        {
            var result = await Reader.ReadAsync(timeout.Token);
            all.AddRange(System.Buffers.BuffersExtensions.ToArray(result.Buffer));
            Reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return [.. all];
        }
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public async Task<byte[]> ReadExactlyAsync(int count)
    {
        using var timeout = new CancellationTokenSource(TestDaemon.Patience);
        var all = new List<byte>();
        while (all.Count < count)
        {
            var result = await Reader.ReadAsync(timeout.Token);
            var take = result.Buffer.Slice(0, Math.Min(count - all.Count, result.Buffer.Length));
            all.AddRange(System.Buffers.BuffersExtensions.ToArray(take));
            Reader.AdvanceTo(take.End);
            if (result.IsCompleted && all.Count < count) throw new EndOfStreamException($"ended after {all.Count} of {count} bytes");
        }
        return [.. all];
    }

    public void CloseWrite() => Socket.Shutdown(SocketShutdown.Send);

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync();
        await _stream.DisposeAsync();
    }
}

internal static class Requests
{
    public static Request Identify() => new() { Type = Request.Types.Type.Identify };

    public static Request Connect(TestDaemon target) => new()
    {
        Type = Request.Types.Type.Connect,
        Connect = new ConnectRequest
        {
            Peer = ByteString.CopyFrom(target.Host.PeerId.Bytes.Span),
            Addrs = { ByteString.CopyFrom(target.Host.ListenAddresses[0].Bytes.Span) },
        },
    };

    public static Request Dht(DHTRequest request) => new() { Type = Request.Types.Type.Dht, Dht = request };

    public static Request PubSub(PSRequest request) => new() { Type = Request.Types.Type.Pubsub, Pubsub = request };
}
