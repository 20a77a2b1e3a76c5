using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using P2PStack.Transports.Memory;

namespace P2PStack.Discovery.Signaling.Tests;

/// <summary>A real host (memory transport, Noise, Yamux, gossipsub) with swarm signaling, or with gossipsub only.</summary>
internal sealed class SignalingPeer : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60); // hang guard only

    private readonly ServiceProvider _services;
    private int _disposed;

    private SignalingPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
        Gossip = services.GetRequiredService<GossipSubService>();
        Signaling = services.GetService<SwarmSignaling>();
        Identity = services.GetRequiredService<ILocalIdentity>();
    }

    public PeerHost Host { get; }
    public GossipSubService Gossip { get; }
    public SwarmSignaling? Signaling { get; }
    public ILocalIdentity Identity { get; }
    public PeerId PeerId => Host.PeerId;
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");
    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    /// <param name="yamux">The host's yamux options (a light peer's receive window, say).</param>
    /// <param name="signalingTime">The clock of the signaling service alone (its presence times and the host's answer
    /// watcher); the rest of the host runs on the system clock.</param>
    public static async Task<SignalingPeer> StartAsync(MemoryNetwork network, Action<SwarmSignalingOptions>? signaling = null,
        bool withSignaling = true, bool withDht = false, Action<YamuxOptions>? yamux = null, TimeProvider? signalingTime = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn("/memory/0");
            p2p.AddMemoryTransport();
            p2p.AddNoise();
            p2p.AddYamux(yamux);
            p2p.AddIdentify();
            p2p.AddGossipSub(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(200));
            if (withDht) p2p.AddKademlia(o => o.RefreshInterval = TimeSpan.Zero);
            if (withSignaling)
                p2p.AddSwarmSignaling(o =>
                {
                    o.AnnounceInterval = TimeSpan.FromSeconds(1);
                    o.HostRendezvousInterval = TimeSpan.Zero;
                    signaling?.Invoke(o);
                });
        });
        if (withSignaling && signalingTime is not null)
            services.Replace(ServiceDescriptor.Singleton(sp => ActivatorUtilities.CreateInstance<SwarmSignaling>(sp, signalingTime)));
        var provider = services.BuildServiceProvider();
        var peer = new SignalingPeer(provider);
        await peer.Host.StartAsync(CancellationToken.None);
        if (withDht) await provider.GetRequiredService<P2PStack.Protocols.Kademlia.Hosting.KademliaHostedService>().StartAsync(CancellationToken.None);
        return peer;
    }

    public async Task ConnectAsync(SignalingPeer other) =>
        await Host.DialAsync(other.Address, CancellationToken.None).AsTask().WaitAsync(Patience);

    /// <summary>A crash: the host stops without the signaling service announcing anything.</summary>
    public async Task CrashAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        using (var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
        {
            try { await Host.StopAsync(quick.Token); }
            catch (OperationCanceledException) { }
        }
        await _services.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (Signaling is not null) await Signaling.DisposeAsync(); // a clean shutdown: LEFT for every joined swarm
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
