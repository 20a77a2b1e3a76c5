using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Neural;
using P2PStack.Transports.Memory;

namespace P2PStack.Consensus.Dag.Tests;

/// <summary>A real host (memory transport, Noise, Yamux, identify, gossipsub) with the neural mesh and DAG consensus.</summary>
internal sealed class DagPeer : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>The hosts' poll timeout: answers delayed by a loaded machine still count.</summary>
    public static readonly TimeSpan PollTimeout = TimeSpan.FromSeconds(10);

    private readonly ServiceProvider _services;
    private readonly IHostedService[] _hosted;

    private DagPeer(ServiceProvider services, PrivateKey key)
    {
        _services = services;
        Key = key;
        Host = services.GetRequiredService<PeerHost>();
        Mesh = services.GetRequiredService<NeuralMesh>();
        Dag = services.GetRequiredService<DagConsensus>();
        _hosted = [.. services.GetServices<IHostedService>()];
    }

    public PrivateKey Key { get; }

    public PeerHost Host { get; }

    public NeuralMesh Mesh { get; }

    public DagConsensus Dag { get; }

    public PeerId PeerId => Host.PeerId;

    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<DagPeer> StartAsync(MemoryNetwork network, PrivateKey key, Action<DagConsensusOptions>? configure = null,
        Action<NeuralMeshOptions>? neural = null, Action<IServiceCollection>? extraServices = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            p2p.WithIdentity(key);
            p2p.ListenOn("/memory/0");
            p2p.AddMemoryTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify();
            p2p.AddGossipSub(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(200));
            p2p.AddNeuralMesh(neural);
            p2p.AddDagConsensus(o =>
            {
                // Members that answer after the poll timeout count as not voting: with the default 2 s, a loaded machine
                // (this assembly's simulations run beside these hosts) can fail enough polls that a vertex does not
                // reach beta within the test's patience (seen: the Byzantine host test in a full run at load ~45).
                o.PollTimeout = PollTimeout;
                configure?.Invoke(o);
            });
        });
        extraServices?.Invoke(services);
        var provider = services.BuildServiceProvider();
        var peer = new DagPeer(provider, key);
        await peer.Host.StartAsync(CancellationToken.None);
        foreach (var hosted in peer._hosted) await hosted.StartAsync(CancellationToken.None);
        return peer;
    }

    public async Task ConnectAsync(DagPeer other) => await Host.DialAsync(other.Address, CancellationToken.None).AsTask().WaitAsync(Patience);

    public async ValueTask DisposeAsync()
    {
        foreach (var hosted in _hosted.Reverse()) await hosted.StopAsync(CancellationToken.None);
        using (var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
        {
            try { await Host.StopAsync(quick.Token); }
            catch (OperationCanceledException) { }
        }
        await _services.DisposeAsync();
    }

    public static PrivateKey NewKey() => PrivateKey.Generate(KeyType.Ed25519);

    public static async Task WaitUntil(Func<Task<bool>> condition, string what, TimeSpan? patience = null)
    {
        var deadline = DateTime.UtcNow + (patience ?? Patience);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}
