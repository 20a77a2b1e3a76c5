using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Transports.Memory;
using P2PStack.Transports.Tcp;
using P2PStack.Security.Noise;

namespace P2PStack.Host.Tests;

/// <summary>A real host built through DI, disposed with its container.</summary>
public sealed class TestPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private TestPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
    }

    public PeerHost Host { get; }

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    /// <summary>The first listen address with the /p2p suffix, as other peers dial it.</summary>
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<TestPeer> StartAsync(string listen, MemoryNetwork? network = null,
        Action<IP2PBuilder>? configure = null, Action<HostOptions>? options = null, Action<NoiseOptions>? noise = null)
    {
        var services = new ServiceCollection();
        if (network is not null) services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn(listen);
            p2p.AddMemoryTransport();
            p2p.AddTcpTransport();
            p2p.AddNoise(noise);
            p2p.AddYamux();
            p2p.AddPing().AddPerf().AddIdentify();
            if (options is not null) p2p.ConfigureHost(options);
            configure?.Invoke(p2p);
        });
        var provider = services.BuildServiceProvider();
        var peer = new TestPeer(provider);
        await peer.Host.StartAsync(CancellationToken.None);
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await _services.DisposeAsync();
    }
}

/// <summary>Echoes every byte back until the remote half-closes, then half-closes.</summary>
public sealed class EchoHandler : IProtocolHandler
{
    public const string Protocol = "/test/echo/1.0.0";

    public IReadOnlyList<string> Protocols { get; } = [Protocol];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            await stream.Input.CopyToAsync(stream.Output, cancellationToken);
            await stream.Output.CompleteAsync();
        }
    }
}
