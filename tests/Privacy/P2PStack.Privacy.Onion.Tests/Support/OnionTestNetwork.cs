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
                // A test network has no spare relay to replace a slow hop, and on a loaded CI machine a cold first hop
                // (dial, Noise, yamux, CREATE) took longer than the default 10 s ("no relay left to replace hop 1").
                o.Client.HopTimeout = OnionTestNetwork.Patience / 2;
                o.Client.BuildTimeout = OnionTestNetwork.Patience;
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

    /// <summary>How long <see cref="DisposeAsync()"/> may take before it fails the test instead of hanging the run.</summary>
    public TimeSpan TeardownTimeout { get; set; } = OnionTestNetwork.Patience;

    // What the teardown is waiting for, named in the error when it overruns.
    private volatile string _teardownStep = "not started";

    public ValueTask DisposeAsync() => DisposeAsync(TeardownTimeout, "onion node");

    /// <summary>Stops the hosted services, the host and the container within <paramref name="timeout"/>.</summary>
    /// <exception cref="TimeoutException">The teardown overran: says which node and which step hung (the step is left
    /// running in the background; the test fails instead of the run hanging).</exception>
    public async ValueTask DisposeAsync(TimeSpan timeout, string role)
    {
        if (IsDisposed) return;
        IsDisposed = true;
        var teardown = TeardownAsync();
        try
        {
            await teardown.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"teardown of {role} {PeerId} did not finish within {timeout.TotalSeconds:0.###} s: still waiting for {_teardownStep}");
        }
    }

    private async Task TeardownAsync()
    {
        foreach (var hosted in _services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().Reverse())
        {
            _teardownStep = $"{hosted.GetType().Name}.StopAsync";
            await hosted.StopAsync(CancellationToken.None);
        }
        _teardownStep = "PeerHost.DisposeAsync";
        await Host.DisposeAsync();
        _teardownStep = "the service container's DisposeAsync";
        await _services.DisposeAsync();
        _teardownStep = "nothing (done)";
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

    /// <summary>How long the whole teardown (<see cref="DisposeAsync"/>, every node) may take before it fails the test
    /// with a message naming the node and step that hung, instead of hanging the test run.</summary>
    public TimeSpan TeardownTimeout { get; set; } = Patience;

    /// <summary>Tears every node down within <see cref="TeardownTimeout"/> in all. A node's failure is ignored (best
    /// effort) and the next one torn down, but an overrun throws <see cref="TimeoutException"/> at once, naming the node
    /// and step that hung and the nodes not torn down; disposing again tears those down.</summary>
    public async ValueTask DisposeAsync()
    {
        var nodes = Clients.Select((n, i) => (Node: n, Role: $"client {i}"))
            .Concat(Relays.Select((n, i) => (Node: n, Role: $"relay {i}")))
            .Append((Node: Destination, Role: "destination"))
            .Where(n => n.Node is not null)
            .ToList();
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < nodes.Count; i++)
        {
            var (node, role) = nodes[i];
            if (node.IsDisposed) continue;
            var left = TeardownTimeout - elapsed.Elapsed;
            try
            {
                await node.DisposeAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, role);
            }
            catch (TimeoutException e)
            {
                var untouched = nodes.Skip(i + 1).Where(n => !n.Node.IsDisposed).Select(n => n.Role).ToList();
                throw new TimeoutException($"the onion test network's teardown overran its {TeardownTimeout.TotalSeconds:0.###} s: {e.Message}"
                    + (untouched.Count > 0 ? $"; not torn down: {string.Join(", ", untouched)}" : ""), e);
            }
            catch (Exception)
            {
                // best effort
            }
        }
    }
}
