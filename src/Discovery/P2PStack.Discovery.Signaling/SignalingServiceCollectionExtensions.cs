using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using P2PStack.Discovery.Signaling;
using P2PStack.Network;

namespace P2PStack;

public static class SignalingServiceCollectionExtensions
{
    /// <summary>
    /// Adds swarm signaling: <see cref="SwarmSignaling"/> (join, leave, members, PeerAvailable/PeerLeft), the
    /// <c>/synaptic/signal/1.0.0</c> host handler for peers without the DHT (unless
    /// <see cref="SwarmSignalingOptions.ServeLightPeers"/> is off), and <see cref="SignalingHostedService"/> (host
    /// rendezvous in the DHT, departure on shutdown). Needs <c>AddGossipSub()</c>; host rendezvous needs
    /// <c>AddKademlia()</c>.
    /// </summary>
    public static IP2PBuilder AddSwarmSignaling(this IP2PBuilder builder, Action<SwarmSignalingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<SwarmSignalingOptions>();
        if (configure is not null) services.Configure(configure);
        if (services.Any(d => d.ServiceType == typeof(SwarmSignaling))) return builder;
        services.AddSingleton<SwarmSignaling>();
        services.TryAddSingleton<SignalingHandler>();
        var probe = new SwarmSignalingOptions();
        configure?.Invoke(probe);
        if (probe.ServeLightPeers) services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<SignalingHandler>());
        services.TryAddSingleton<SignalingHostedService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<SignalingHostedService>());
        return builder;
    }
}
