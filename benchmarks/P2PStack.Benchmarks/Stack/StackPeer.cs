using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Security.Noise;

namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// One of our hosts as the benchmarks use it: TCP + Noise + Yamux with ping and perf, nothing else (no identify), so
/// the figures are those of the connection stack. Disposed with its container.
/// </summary>
internal sealed class StackPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private StackPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
    }

    public PeerHost Host { get; }

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    /// <summary>The first listen address with /p2p, as another peer dials it.</summary>
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    /// <summary>
    /// Builds and starts a host. <paramref name="suite"/> null offers every Noise suite (hybrid first, as a default
    /// host does); otherwise the host offers that suite first, so a dial it makes negotiates it.
    /// </summary>
    public static async Task<StackPeer> StartAsync(string? listen, PostQuantumLevel? suite,
        Action<HostOptions>? configureHost = null)
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p =>
        {
            if (listen is not null) p2p.ListenOn(listen);
            p2p.AddTcpTransport();
            p2p.AddNoise(noise =>
            {
                if (suite is not { } level) return;
                if (level == PostQuantumLevel.Classical)
                {
                    noise.PostQuantum.Enabled = false;
                }
                else
                {
                    noise.PostQuantum.PreferredLevel = level;
                    noise.PostQuantum.MinimumLevel = level;
                }
            });
            p2p.AddYamux();
            p2p.AddPing().AddPerf();
            if (configureHost is not null) p2p.ConfigureHost(configureHost);
        });
        var provider = services.BuildServiceProvider();
        var peer = new StackPeer(provider);
        await peer.Host.StartAsync(CancellationToken.None);
        return peer;
    }

    public static PostQuantumLevel ParseSuite(string name) => name switch
    {
        "noise" => PostQuantumLevel.Classical,
        "mlkem512" => PostQuantumLevel.MLKem512,
        "mlkem768" => PostQuantumLevel.MLKem768,
        "mlkem1024" => PostQuantumLevel.MLKem1024,
        _ => throw new ArgumentException($"unknown suite '{name}' (noise, mlkem512, mlkem768, mlkem1024)"),
    };

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await _services.DisposeAsync();
    }
}
