using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Transports.Memory;

namespace P2PStack.Discovery.Rendezvous.Tests;

/// <summary>A real host (memory transport, Noise, Yamux) with the rendezvous client, and the server when asked.</summary>
internal sealed class RendezvousPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private RendezvousPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
        Client = services.GetRequiredService<RendezvousClient>();
        Server = services.GetService<RendezvousServer>();
        Identity = services.GetRequiredService<P2PStack.Network.ILocalIdentity>();
    }

    public PeerHost Host { get; }

    public PeerId PeerId => Host.PeerId;

    public P2PStack.Network.ILocalIdentity Identity { get; }

    public RendezvousClient Client { get; }

    public RendezvousServer? Server { get; }

    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<RendezvousPeer> StartAsync(MemoryNetwork network, Action<RendezvousServerOptions>? server = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn("/memory/0");
            p2p.AddMemoryTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddRendezvous();
            if (server is not null) p2p.AddRendezvousServer(server);
        });
        var peer = new RendezvousPeer(services.BuildServiceProvider());
        await peer.Host.StartAsync(CancellationToken.None);
        return peer;
    }

    public async Task ConnectAsync(RendezvousPeer other) => await Host.DialAsync(other.Address, CancellationToken.None);

    public async ValueTask DisposeAsync() => await _services.DisposeAsync();
}
