using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Transports.Memory;

namespace P2PStack.Trust.Tests;

/// <summary>A real host (TCP on 127.0.0.1, or the memory transport) with the trust module at a given level.</summary>
internal sealed class TrustNode : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private TrustNode(ServiceProvider services)
    {
        Services = services;
        Host = services.GetRequiredService<PeerHost>();
        Store = services.GetService<TrustStore>();
    }

    public ServiceProvider Services { get; }

    public PeerHost Host { get; }

    /// <summary>Null when the node runs without the trust module.</summary>
    public TrustStore? Store { get; }

    public TrustMetrics Metrics => Services.GetRequiredService<TrustMetrics>();

    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public Multiaddr TransportAddress => Host.ListenAddresses[0];

    public static async Task<TrustNode> StartAsync(SecurityLevel? level, Action<TrustOptions>? configure = null,
        string listen = "/ip4/127.0.0.1/tcp/0", MemoryNetwork? network = null, PrivateKey? key = null)
    {
        var services = new ServiceCollection();
        if (network is not null) services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            if (key is not null) p2p.WithIdentity(key);
            p2p.ListenOn(listen).AddTcpTransport().AddMemoryTransport().AddNoise().AddYamux().AddPing()
                .ConfigureHost(h => h.DialTimeout = TimeSpan.FromSeconds(10));
            if (level is { } l)
            {
                p2p.AddTrust(o =>
                {
                    o.Level = l;
                    configure?.Invoke(o);
                });
            }
        });
        var node = new TrustNode(services.BuildServiceProvider());
        await node.Host.StartAsync(CancellationToken.None);
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Services.DisposeAsync();
    }
}
