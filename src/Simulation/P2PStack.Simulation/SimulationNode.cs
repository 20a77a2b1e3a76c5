using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Transports.Memory;

namespace P2PStack.Simulation;

/// <summary>
/// One simulated peer: a real <see cref="PeerHost"/> (memory transport, Noise, Yamux, Identify, and the DHT and
/// gossipsub when the simulation has them) in its own service container. Stopping it disposes the container;
/// starting it again builds a new host with the same identity on a new address, as a restarted node would.
/// </summary>
public sealed class SimulationNode : IAsyncDisposable
{
    private readonly MemoryNetwork _network;
    private readonly SimulationOptions _options;
    private ServiceProvider? _services;
    private IHostedService[] _hosted = [];

    internal SimulationNode(int index, PrivateKey key, MemoryNetwork network, SimulationOptions options)
    {
        Index = index;
        Key = key;
        PeerId = PeerId.FromPublicKey(key.PublicKey);
        _network = network;
        _options = options;
    }

    public int Index { get; }

    public PrivateKey Key { get; }

    public PeerId PeerId { get; }

    /// <summary>Times this node was started (1 after the first start).</summary>
    public int Generation { get; private set; }

    public bool IsRunning => _services is not null;

    public PeerHost Host => Get<PeerHost>();

    public KademliaDht Dht => Get<KademliaDht>();

    public GossipSubService PubSub => Get<GossipSubService>();

    /// <summary>The listen address with /p2p, as other nodes dial it.</summary>
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{PeerId}");

    public T Get<T>() where T : notnull =>
        (_services ?? throw new InvalidOperationException($"node {Index} is not running")).GetRequiredService<T>();

    /// <summary>Builds and starts the host, then its hosted services (the DHT bootstraps from
    /// <paramref name="dhtBootstrap"/> in the background: await <see cref="KademliaHostedService.Bootstrap"/>).</summary>
    internal async Task StartAsync(IReadOnlyList<Multiaddr> dhtBootstrap, CancellationToken cancellationToken)
    {
        if (_services is not null) throw new InvalidOperationException($"node {Index} is already running");
        var services = new ServiceCollection();
        services.AddSingleton(_network);
        services.AddP2PStack(p2p =>
        {
            p2p.WithIdentity(Key);
            p2p.ListenOn("/memory/0");
            p2p.AddMemoryTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify();
            if (_options.Kademlia is { } kademlia)
            {
                p2p.AddKademlia(o =>
                {
                    kademlia(o);
                    o.BootstrapPeers.Clear();
                    o.BootstrapPeers.AddRange(dhtBootstrap);
                });
                // The DHT sends through a tracing decorator so lookups can be measured (hops, requests).
                services.AddSingleton(sp =>
                {
                    var network = sp.GetRequiredService<HostKadNetwork>();
                    return new KademliaDht(PeerId, sp.GetRequiredService<IOptions<KademliaOptions>>().Value,
                        new TracingKadNetwork(network), network, sp.GetRequiredService<IDhtRecordStore>(),
                        sp.GetRequiredService<IProviderStore>(), null, sp.GetService<ILogger<KademliaDht>>());
                });
            }
            if (_options.GossipSub is { } gossipSub) p2p.AddGossipSub(gossipSub);
            _options.Modules?.Invoke(p2p, this);
        });
        var provider = services.BuildServiceProvider();
        try
        {
            await provider.GetRequiredService<PeerHost>().StartAsync(cancellationToken).ConfigureAwait(false);
            _hosted = [.. provider.GetServices<IHostedService>()];
            foreach (var hosted in _hosted) await hosted.StartAsync(cancellationToken).ConfigureAwait(false);
            if (_options.GossipSub is not null) provider.GetRequiredService<GossipSubService>();
        }
        catch
        {
            await provider.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        _services = provider;
        Generation++;
    }

    /// <summary>Stops the hosted services and disposes the host: its connections close, its peers see it leave.</summary>
    public async Task StopAsync()
    {
        var services = Interlocked.Exchange(ref _services, null);
        if (services is null) return;
        foreach (var hosted in _hosted.Reverse()) await hosted.StopAsync(CancellationToken.None).ConfigureAwait(false);
        _hosted = [];
        await services.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);
}
