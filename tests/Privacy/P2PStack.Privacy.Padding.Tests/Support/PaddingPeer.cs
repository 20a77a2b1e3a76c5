using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>A real host built through DI (TCP and memory transports, Noise, yamux, ping), with or without padding.</summary>
public sealed class PaddingPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private PaddingPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
    }

    public PeerHost Host { get; }

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<PaddingPeer> StartAsync(string listen, Action<PaddingOptions>? padding, MemoryNetwork? network = null,
        Action<IP2PBuilder>? configure = null)
    {
        var services = new ServiceCollection();
        if (network is not null) services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn(listen).AddMemoryTransport().AddTcpTransport().AddNoise().AddYamux().AddPing();
            if (padding is not null) p2p.AddPadding(padding);
            configure?.Invoke(p2p);
        });
        var peer = new PaddingPeer(services.BuildServiceProvider());
        await peer.Host.StartAsync(CancellationToken.None);
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await _services.DisposeAsync();
    }
}
