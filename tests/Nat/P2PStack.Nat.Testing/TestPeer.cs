using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Addressing;
using P2PStack.Host;

namespace P2PStack.Nat.Testing;

/// <summary>
/// A real host built through DI for in-process NAT protocol tests (TCP on loopback, Noise, Yamux, identify, ping),
/// with the modules the test adds; its hosted services start after the host and stop before it.
/// </summary>
public sealed class TestPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private IHostedService[] _hosted = [];

    private TestPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
    }

    public PeerHost Host { get; }

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    /// <summary>The first listen address with the /p2p suffix.</summary>
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<TestPeer> StartAsync(Action<IP2PBuilder>? configure = null, string listen = "/ip4/127.0.0.1/tcp/0",
        bool startHostedServices = true)
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn(listen);
            p2p.AddTcpTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify().AddPing();
            configure?.Invoke(p2p);
        });
        var peer = new TestPeer(services.BuildServiceProvider());
        await peer.Host.StartAsync(CancellationToken.None).ConfigureAwait(false);
        if (startHostedServices)
        {
            peer._hosted = [.. peer._services.GetServices<IHostedService>()];
            foreach (var hosted in peer._hosted) await hosted.StartAsync(CancellationToken.None).ConfigureAwait(false);
        }
        return peer;
    }

    /// <summary>Connects to <paramref name="other"/> and waits until identify has told each side the other's protocols.</summary>
    public async Task ConnectAsync(TestPeer other, CancellationToken cancellationToken)
    {
        await Host.DialAsync(other.Address, cancellationToken).ConfigureAwait(false);
        while (Host.PeerStore.GetProtocols(other.Host.PeerId).Count == 0 || other.Host.PeerStore.GetProtocols(Host.PeerId).Count == 0)
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var hosted in _hosted.Reverse()) await hosted.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
        await _services.DisposeAsync().ConfigureAwait(false);
    }
}
