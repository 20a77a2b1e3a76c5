using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>A real host with the onion module, built through DI, disposed with its container.</summary>
public sealed class OnionNode : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private OnionNode(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
    }

    public PeerHost Host { get; }

    public PeerId PeerId => Host.PeerId;

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public OnionClient Client => Get<OnionClient>();

    public OnionRelay Relay => Get<OnionRelay>();

    public Multiaddr Address => Host.ListenAddresses.First(a => !a.Has(Transport.OnionAddress.Protocol)).Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<OnionNode> StartAsync(string listen, MemoryNetwork? network, Action<OnionOptions>? onion = null,
        Action<IP2PBuilder>? configure = null, Action<HostOptions>? host = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        if (network is not null) services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn(listen);
            p2p.AddMemoryTransport();
            p2p.AddTcpTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify().AddPing();
            p2p.AddOnion(o =>
            {
                o.Client.PreemptiveCircuits = 0;
                o.Client.Diversity.Enabled = false;
                o.Relay.AllowPrivateAddresses = true;
                onion?.Invoke(o);
            });
            if (host is not null) p2p.ConfigureHost(host);
            configure?.Invoke(p2p);
        });
        var provider = services.BuildServiceProvider();
        var node = new OnionNode(provider);
        await node.Host.StartAsync(CancellationToken.None);
        foreach (var hosted in provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>())
            await hosted.StartAsync(CancellationToken.None);
        return node;
    }

    public bool IsDisposed { get; private set; }

    public async ValueTask DisposeAsync()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        foreach (var hosted in _services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().Reverse())
            await hosted.StopAsync(CancellationToken.None);
        await Host.DisposeAsync();
        await _services.DisposeAsync();
    }
}

/// <summary>Relays, a client and a destination on one memory network; every directory knows every relay.</summary>
public sealed class OnionTestNetwork : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private OnionTestNetwork(MemoryNetwork network) => Network = network;

    public MemoryNetwork Network { get; }

    public List<OnionNode> Relays { get; } = [];

    public List<OnionNode> Clients { get; } = [];

    public OnionNode Client => Clients[0];

    public OnionNode Destination { get; private set; } = null!;

    public static async Task<OnionTestNetwork> StartAsync(int relays, int clients = 1, Action<OnionOptions>? relayOptions = null,
        Action<OnionOptions>? clientOptions = null, Action<IP2PBuilder>? destination = null, string listen = "/memory/0",
        MemoryLinkConditions? links = null, Action<HostOptions>? destinationHost = null, Action<IP2PBuilder>? configureAll = null,
        Action<int, IP2PBuilder>? configureRelay = null, Action<int, HostOptions>? relayHost = null,
        Action<IP2PBuilder>? configureClients = null)
    {
        var memory = new MemoryNetwork(1);
        if (links is not null) memory.DefaultLinkConditions = links;
        var network = new OnionTestNetwork(memory);
        try
        {
            for (int i = 0; i < relays; i++)
            {
                int index = i;
                network.Relays.Add(await OnionNode.StartAsync(listen, memory, o =>
                {
                    o.Relay.Enabled = true;
                    o.EnableClient = false;
                    relayOptions?.Invoke(o);
                }, p2p =>
                {
                    configureAll?.Invoke(p2p);
                    configureRelay?.Invoke(index, p2p);
                }, relayHost is null ? null : o => relayHost(index, o)));
            }
            for (int i = 0; i < clients; i++)
                network.Clients.Add(await OnionNode.StartAsync(listen, memory, clientOptions, p2p =>
                {
                    configureAll?.Invoke(p2p);
                    configureClients?.Invoke(p2p);
                }));
            network.Destination = await OnionNode.StartAsync(listen, memory, o =>
            {
                o.EnableClient = false;
                relayOptions?.Invoke(o);
                o.Relay.Enabled = false;
                o.EnableClient = false;
            }, p2p =>
            {
                configureAll?.Invoke(p2p);
                destination?.Invoke(p2p);
            }, destinationHost);
            network.PublishDirectories();
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
        return network;
    }

    /// <summary>Gives every client every relay's signed descriptor, and the destination's address.</summary>
    public void PublishDirectories()
    {
        foreach (var client in Clients)
        {
            foreach (var relay in Relays) Assert.NotNull(client.Client.Directory.TryAdd(relay.Relay.SignedDescriptor()));
            client.Host.PeerStore.AddAddresses(Destination.PeerId, [Destination.Address.DecapsulateCode(MultiaddrProtocols.P2P.Code)], TimeSpan.FromHours(1));
        }
        foreach (var relay in Relays)
            relay.Host.PeerStore.AddAddresses(Destination.PeerId, [Destination.Address.DecapsulateCode(MultiaddrProtocols.P2P.Code)], TimeSpan.FromHours(1));
    }

    public OnionNode RelayOf(PeerId peer) => Relays.Single(r => r.PeerId.Equals(peer));

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Clients.Concat(Relays).Append(Destination))
        {
            if (node is null) continue;
            try
            {
                await node.DisposeAsync();
            }
            catch (Exception)
            {
                // best effort
            }
        }
    }
}
