using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>A real host (memory transport, Noise, Yamux, identify, DHT, gossipsub) with the neural mesh, built through DI.</summary>
internal sealed class NeuralPeer : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly ServiceProvider _services;

    private NeuralPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
        Mesh = services.GetRequiredService<NeuralMesh>();
        Dht = services.GetRequiredService<KademliaDht>();
        Recorder = services.GetRequiredService<Recorder>();
    }

    public PeerHost Host { get; }
    public NeuralMesh Mesh { get; }
    public KademliaDht Dht { get; }
    public Recorder Recorder { get; }
    public PeerId PeerId => Host.PeerId;
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public static Task<NeuralPeer> StartAsync(MemoryNetwork network, Action<NeuralMeshOptions>? configure = null,
        Action<IServiceCollection>? services = null) => StartAsync(network, null, configure, services);

    /// <summary>A peer over TCP listening on <paramref name="listen"/> (e.g. /ip4/127.0.1.1/tcp/0), dialing from that
    /// address and port (SO_REUSEPORT): so tests on loopback can come from different address blocks.</summary>
    public static Task<NeuralPeer> StartTcpAsync(string listen, Action<NeuralMeshOptions>? configure = null) =>
        StartAsync(null, listen, configure, null);

    private static async Task<NeuralPeer> StartAsync(MemoryNetwork? network, string? tcpListen, Action<NeuralMeshOptions>? configure,
        Action<IServiceCollection>? services)
    {
        var collection = new ServiceCollection();
        if (network is not null) collection.AddSingleton(network);
        collection.AddSingleton<Recorder>();
        collection.AddSingleton<INeuralCommandHandler, EchoCommandHandler>();
        foreach (var info in NeuralMessageTypes.All) Recorder.Register(collection, info.BodyType);
        services?.Invoke(collection);
        collection.AddP2PStack(p2p =>
        {
            if (tcpListen is null)
            {
                p2p.ListenOn("/memory/0");
                p2p.AddMemoryTransport();
            }
            else
            {
                p2p.ListenOn(tcpListen);
                p2p.AddTcpTransport(o => o.ReusePort = true);
            }
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify();
            p2p.AddKademlia(o => o.RefreshInterval = TimeSpan.Zero);
            p2p.AddGossipSub(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(200));
            p2p.AddNeuralMesh(configure);
        });
        var provider = collection.BuildServiceProvider();
        var peer = new NeuralPeer(provider);
        await peer.Host.StartAsync(CancellationToken.None);
        await provider.GetRequiredService<KademliaHostedService>().StartAsync(CancellationToken.None);
        return peer;
    }

    public async Task ConnectAsync(NeuralPeer other)
    {
        await Host.DialAsync(other.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        // The dialer's upgrade ends before the responder's: wait until the other side lists the connection too, so that
        // it can route to us over it (a forwarder otherwise drops a message for us as unroutable).
        await WaitUntil(() => other.Host.GetConnections(PeerId).Count > 0, $"{other.PeerId} to list the connection");
    }

    public async ValueTask DisposeAsync()
    {
        await Mesh.DisposeAsync();
        await _services.GetRequiredService<KademliaHostedService>().StopAsync(CancellationToken.None);
        // A graceful yamux close waits for the remote to end its long-lived streams (gossipsub, neural); tests do not
        // need that, so the host gets a moment and the container then aborts what is left.
        using (var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            try { await Host.StopAsync(quick.Token); }
            catch (OperationCanceledException) { }
        }
        await _services.DisposeAsync();
    }

    public static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}

/// <summary>Collects every message the DI handlers receive, in order.</summary>
internal sealed class Recorder
{
    private readonly Lock _gate = new();
    private readonly List<ReceivedMessage> _messages = [];

    /// <summary>When set, thought handlers wait on it (to saturate the link in priority tests).</summary>
    public TaskCompletionSource? Gate { get; set; }

    public IReadOnlyList<ReceivedMessage> Messages
    {
        get { lock (_gate) return [.. _messages]; }
    }

    public void Add(ReceivedMessage message)
    {
        lock (_gate) _messages.Add(message);
    }

    public static void Register(IServiceCollection services, Type body) =>
        services.AddSingleton(typeof(INeuralMessageHandler<>).MakeGenericType(body), typeof(RecordingHandler<>).MakeGenericType(body));
}

internal sealed class RecordingHandler<TBody>(Recorder recorder) : INeuralMessageHandler<TBody> where TBody : class, Google.Protobuf.IMessage<TBody>
{
    public async ValueTask HandleAsync(ReceivedMessage<TBody> message, CancellationToken cancellationToken)
    {
        Assert.IsType<TBody>(message.Body);
        recorder.Add(message);
        if (recorder.Gate is { } gate && message.Body is Thought) await gate.Task.WaitAsync(cancellationToken);
    }
}

/// <summary>Answers "echo ARGS" with the arguments and fails "fail".</summary>
internal sealed class EchoCommandHandler(NeuralMesh mesh) : INeuralCommandHandler
{
    public bool CanHandle(Command command) => command.Name is "echo" or "fail";

    public ValueTask<Response> HandleAsync(ReceivedMessage<Command> command, CancellationToken cancellationToken) =>
        command.Body.Name == "fail"
            ? throw new InvalidOperationException("asked to fail")
            : ValueTask.FromResult(new Response { Success = true, Content = $"{mesh.LocalPeer}: {string.Join(' ', command.Body.Args)}" });
}
