using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Transports.Memory;

namespace P2PStack.Benchmarks.Neural;

/// <summary>
/// A real host with the neural mesh (Noise, Yamux, Identify, Kademlia, GossipSub, NeuralMesh) over TCP or the
/// memory transport, whose thought handler is a shared <see cref="DeliveryProbe"/>. Disposed with its container.
/// </summary>
internal sealed class NeuralBenchPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private NeuralBenchPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
        Mesh = services.GetRequiredService<NeuralMesh>();
    }

    public PeerHost Host { get; }
    public NeuralMesh Mesh { get; }
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    /// <summary>Starts a host on loopback TCP (<paramref name="network"/> null) or on the memory network.</summary>
    /// <param name="neural">Neural mesh options.</param>
    /// <param name="configure">More services, added before the stack's (which add theirs only if absent).</param>
    public static async Task<NeuralBenchPeer> StartAsync(MemoryNetwork? network, DeliveryProbe probe, int nodeIndex,
        Action<GossipSubOptions>? gossipSub = null, Action<NeuralMeshOptions>? neural = null, Action<IServiceCollection>? configure = null)
    {
        var services = new ServiceCollection();
        if (network is not null) services.AddSingleton(network);
        services.AddSingleton<INeuralMessageHandler<Thought>>(new ProbeHandler(probe, nodeIndex));
        services.AddSingleton<INeuralCommandHandler, EchoHandler>();
        configure?.Invoke(services);
        services.AddP2PStack(p2p =>
        {
            if (network is null)
            {
                p2p.ListenOn("/ip4/127.0.0.1/tcp/0");
                p2p.AddTcpTransport();
            }
            else
            {
                p2p.ListenOn("/memory/0");
                p2p.AddMemoryTransport();
            }
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify();
            p2p.AddKademlia(o => o.RefreshInterval = TimeSpan.Zero);
            p2p.AddGossipSub(o => gossipSub?.Invoke(o));
            p2p.AddNeuralMesh(o => neural?.Invoke(o));
        });
        var provider = services.BuildServiceProvider();
        var peer = new NeuralBenchPeer(provider);
        await peer.Host.StartAsync(CancellationToken.None);
        await provider.GetRequiredService<KademliaHostedService>().StartAsync(CancellationToken.None);
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        await Mesh.DisposeAsync();
        await _services.GetRequiredService<KademliaHostedService>().StopAsync(CancellationToken.None);
        using (var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
        {
            try { await Host.StopAsync(quick.Token); }
            catch (OperationCanceledException) { }
        }
        await _services.DisposeAsync();
    }

    /// <summary>A thought body of about <paramref name="contentBytes"/> content bytes that carries its send time
    /// (a <see cref="Stopwatch"/> timestamp: one process, one clock) and an index, in its tags.</summary>
    public static Thought Probe(long index, int contentBytes) => new()
    {
        Content = new string('x', contentBytes),
        Tags = { Stopwatch.GetTimestamp().ToString(CultureInfo.InvariantCulture), index.ToString(CultureInfo.InvariantCulture) },
    };

    private sealed class ProbeHandler(DeliveryProbe probe, int node) : INeuralMessageHandler<Thought>
    {
        public ValueTask HandleAsync(ReceivedMessage<Thought> message, CancellationToken cancellationToken)
        {
            long now = Stopwatch.GetTimestamp();
            var tags = message.Body.Tags;
            if (tags.Count == 2 && long.TryParse(tags[0], CultureInfo.InvariantCulture, out long sent)
                && long.TryParse(tags[1], CultureInfo.InvariantCulture, out long index))
                probe.Record(node, index, sent, now);
            return ValueTask.CompletedTask;
        }
    }

    private sealed class EchoHandler : INeuralCommandHandler
    {
        public bool CanHandle(Command command) => command.Name == "echo";

        public ValueTask<Response> HandleAsync(ReceivedMessage<Command> command, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new Response { Success = true, Content = command.Body.Content });
    }
}

/// <summary>Delivery times of probe thoughts, shared by every node of a run.</summary>
internal sealed class DeliveryProbe
{
    private readonly Lock _gate = new();
    private readonly List<double> _latenciesMs = [];
    private readonly HashSet<(int Node, long Index)> _seen = [];
    private long _count;
    private long _duplicates;
    private long _last;

    /// <summary>Deliveries with an index below this are warm-up and not kept.</summary>
    public long FirstMeasured { get; set; }

    public long Count => Interlocked.Read(ref _count);
    public long Duplicates => Interlocked.Read(ref _duplicates);
    public long LastDeliveryTimestamp => Interlocked.Read(ref _last);

    public void Record(int node, long index, long sent, long now)
    {
        if (index < FirstMeasured) return;
        lock (_gate)
        {
            if (!_seen.Add((node, index)))
            {
                _duplicates++;
                return;
            }
            _latenciesMs.Add((now - sent) * 1000.0 / Stopwatch.Frequency);
            _count++;
            _last = now;
        }
    }

    public List<double> Latencies()
    {
        lock (_gate) return [.. _latenciesMs];
    }

    public void Reset(long firstMeasured)
    {
        lock (_gate)
        {
            FirstMeasured = firstMeasured;
            _latenciesMs.Clear();
            _seen.Clear();
            _count = 0;
            _duplicates = 0;
            _last = 0;
        }
    }
}
