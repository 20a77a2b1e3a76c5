using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Host.Metrics;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack;

/// <summary>Composition root of a peer: <c>services.AddP2PStack(p2p => p2p.AddTcpTransport().AddNoise().AddYamux())</c>.</summary>
public static class P2PStackServiceCollectionExtensions
{
    /// <summary>
    /// Registers the host (<see cref="IPeerHost"/>) and its shared services; <paramref name="configure"/> adds the
    /// modules. Without <see cref="WithIdentity"/> the host gets a new Ed25519 identity.
    /// </summary>
    public static IServiceCollection AddP2PStack(this IServiceCollection services, Action<IP2PBuilder> configure)
    {
        var builder = new P2PBuilder(services);
        services.AddOptions<HostOptions>();
        services.AddLogging();
        services.TryAddSingleton<ILocalIdentity>(_ => new LocalIdentity(PrivateKey.Generate(KeyType.Ed25519)));
        services.TryAddSingleton<IPeerStore>(_ => new InMemoryPeerStore());
        services.TryAddSingleton<IEventBus, EventBus>();
        // A hosted app has registered its IMeterFactory already; a bare container gets one scoped to it.
        services.TryAddSingleton<IMeterFactory, HostMeterFactory>();
        services.TryAddSingleton(sp => new ProtocolRegistry(() => sp.GetServices<IProtocolHandler>()));
        services.TryAddSingleton<Upgrader>();
        services.TryAddSingleton<PeerHost>();
        services.TryAddSingleton<IPeerHost>(sp => sp.GetRequiredService<PeerHost>());
        configure(builder);
        return services;
    }

    /// <summary>Uses this key as the node's identity.</summary>
    public static IP2PBuilder WithIdentity(this IP2PBuilder builder, PrivateKey key)
    {
        builder.Services.Replace(ServiceDescriptor.Singleton<ILocalIdentity>(new LocalIdentity(key)));
        return builder;
    }

    /// <summary>Sets host options (listen addresses, timeouts, limits, watermarks).</summary>
    public static IP2PBuilder ConfigureHost(this IP2PBuilder builder, Action<HostOptions> configure)
    {
        builder.Services.Configure(configure);
        return builder;
    }

    /// <summary>Adds listen addresses bound when the host starts.</summary>
    public static IP2PBuilder ListenOn(this IP2PBuilder builder, params string[] addresses) =>
        builder.ConfigureHost(o => o.ListenAddresses.AddRange(addresses.Select(a => Multiaddr.Parse(a))));

    /// <summary>Registers a protocol handler type as a singleton <see cref="IProtocolHandler"/>.</summary>
    public static IP2PBuilder AddProtocol<THandler>(this IP2PBuilder builder) where THandler : class, IProtocolHandler
    {
        builder.Services.TryAddSingleton<THandler>();
        builder.Services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<THandler>());
        return builder;
    }

    /// <summary>Adds a connection gater; every registered gater must allow a connection.</summary>
    public static IP2PBuilder AddConnectionGater(this IP2PBuilder builder, IConnectionGater gater)
    {
        builder.Services.AddSingleton(gater);
        return builder;
    }
}
