using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
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
        services.TryAddSingleton<IPeerStore>(sp => new InMemoryPeerStore(memory: sp.GetRequiredService<ResourceManager>().Service(InMemoryPeerStore.ResourceService)));
        services.TryAddSingleton<IEventBus, EventBus>();
        // A hosted app has registered its IMeterFactory already; a bare container gets one scoped to it.
        services.TryAddSingleton<IMeterFactory, HostMeterFactory>();
        // Handlers and transports are resolved on first use: either may depend on the host.
        services.TryAddSingleton(sp => new ProtocolRegistry(() => sp.GetServices<IProtocolHandler>()));
        services.TryAddSingleton(sp => new TransportRegistry(() => sp.GetServices<ITransport>()));
        services.TryAddSingleton<Upgrader>();
        services.TryAddSingleton<AddressManager>();
        services.TryAddSingleton<IAddressManager>(sp => sp.GetRequiredService<AddressManager>());
        services.TryAddSingleton(sp => new ConnectionTable(Options(sp).Limits));
        services.TryAddSingleton(sp => new ConnectionManager(Options(sp).ConnectionManager,
            sp.GetRequiredService<ConnectionTable>().Snapshot, sp.GetRequiredService<ILogger<ConnectionManager>>(),
            sp.GetService<TimeProvider>()));
        services.TryAddSingleton<IConnectionManager>(sp => sp.GetRequiredService<ConnectionManager>());
        // Instruments on the "P2PStack.Host" meter; the factory scopes them to this container (see docs/metrics.md).
        services.TryAddSingleton(sp => new HostMetrics(sp.GetService<IMeterFactory>(), sp.GetRequiredService<ConnectionTable>().Snapshot,
            sp.GetRequiredService<IPeerStore>(), Options(sp).Metrics));
        services.TryAddSingleton(sp => new ResourceManager(Options(sp).EffectiveResourceLimits(), sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IResourceManager>(sp => sp.GetRequiredService<ResourceManager>());
        services.TryAddSingleton(sp => new PeerHost(sp.GetRequiredService<ILocalIdentity>(), sp.GetRequiredService<TransportRegistry>(),
            sp.GetRequiredService<Upgrader>(), sp.GetRequiredService<ProtocolRegistry>(), sp.GetRequiredService<IPeerStore>(),
            sp.GetRequiredService<IEventBus>(), sp.GetServices<IConnectionGater>(), sp.GetRequiredService<IOptions<HostOptions>>(),
            sp.GetRequiredService<ILogger<PeerHost>>(), sp.GetRequiredService<ConnectionTable>(),
            sp.GetRequiredService<ConnectionManager>(), sp.GetRequiredService<HostMetrics>(), sp.GetRequiredService<AddressManager>(),
            sp.GetRequiredService<ResourceManager>()));
        services.TryAddSingleton<IPeerHost>(sp => sp.GetRequiredService<PeerHost>());
        // Listeners that work on a connection before handing it over (WebSocket upgrades) admit it here first.
        services.TryAddSingleton<IInboundAdmission>(sp => sp.GetRequiredService<PeerHost>());
        configure(builder);
        return services;
    }

    private static HostOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<HostOptions>>().Value;

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

    /// <summary>
    /// Registers a transport type as a singleton <see cref="ITransport"/>. The host resolves transports when it starts,
    /// so the transport may depend on <see cref="IPeerHost"/> (a virtual transport dialing through other connections).
    /// </summary>
    public static IP2PBuilder AddTransport<TTransport>(this IP2PBuilder builder) where TTransport : class, ITransport
    {
        builder.Services.TryAddSingleton<TTransport>();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, TTransport>(sp => sp.GetRequiredService<TTransport>()));
        return builder;
    }

    /// <summary>Registers a secured-connection filter: offered to dialers that ask for it (<see cref="DialOptions.Filters"/>)
    /// and available to this node's own dials.</summary>
    public static IP2PBuilder AddSecuredConnectionFilter<TFilter>(this IP2PBuilder builder) where TFilter : class, ISecuredConnectionFilter
    {
        builder.Services.TryAddSingleton<TFilter>();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ISecuredConnectionFilter, TFilter>(sp => sp.GetRequiredService<TFilter>()));
        return builder;
    }

    /// <summary>Adds a connection gater; every registered gater must allow a connection.</summary>
    public static IP2PBuilder AddConnectionGater(this IP2PBuilder builder, IConnectionGater gater)
    {
        builder.Services.AddSingleton(gater);
        return builder;
    }
}
