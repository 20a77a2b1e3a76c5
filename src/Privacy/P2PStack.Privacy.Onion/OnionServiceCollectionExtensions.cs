using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Privacy.Padding;
using P2PStack.Protocols.Kademlia;

namespace P2PStack;

public static class OnionServiceCollectionExtensions
{
    /// <summary>
    /// Adds onion circuits: the transport (dial <c>/p2p-onion</c> addresses, or <see cref="OnionClient.ConnectAsync"/>),
    /// the relay (served when <see cref="OnionRelayOptions.Enabled"/>), the directory (fed from the DHT's
    /// <c>/onion-relay</c> records when Kademlia is added) and <see cref="OnionHostedService"/>, which runs them with
    /// the host (start it after the host). With <c>AddPadding</c>, circuit links run on padded connections and circuits
    /// carry cover cells as its policy says for <see cref="PaddingScope.CircuitLink"/> (docs/specs/onion.md, sections 2
    /// and 8a).
    /// </summary>
    public static IP2PBuilder AddOnion(this IP2PBuilder builder, Action<OnionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<OnionOptions>();
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton(sp => new OnionMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton(sp => new RelayDirectory(sp.GetRequiredService<IOptions<OnionOptions>>(), sp.GetRequiredService<OnionMetrics>(),
            sp.GetService<ILogger<RelayDirectory>>() ?? NullLogger<RelayDirectory>.Instance, sp, sp.GetService<TimeProvider>()));
        services.TryAddSingleton(sp => new OnionRelay(sp.GetRequiredService<IPeerHost>(), sp.GetRequiredService<ILocalIdentity>(),
            sp.GetRequiredService<IOptions<OnionOptions>>(), sp.GetRequiredService<OnionMetrics>(),
            sp.GetService<ILogger<OnionRelay>>() ?? NullLogger<OnionRelay>.Instance, sp.GetService<TimeProvider>(), sp.GetService<PaddingPolicy>()));
        services.TryAddSingleton(sp => new OnionClient(sp.GetRequiredService<IPeerHost>(), sp.GetRequiredService<IOptions<OnionOptions>>(),
            sp.GetRequiredService<RelayDirectory>(), sp.GetRequiredService<OnionMetrics>(),
            sp.GetService<ILogger<OnionClient>>() ?? NullLogger<OnionClient>.Instance, sp.GetService<TimeProvider>(), sp.GetService<PaddingPolicy>()));
        services.TryAddSingleton<OnionListeners>();
        services.TryAddSingleton<DestinationHandler>();
        services.TryAddSingleton<OnionTransport>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, OnionTransport>(sp => sp.GetRequiredService<OnionTransport>()));
        services.TryAddSingleton(sp => new OnionHostedService(sp.GetRequiredService<IPeerHost>(), sp.GetRequiredService<IOptions<OnionOptions>>(),
            sp.GetRequiredService<OnionRelay>(), sp.GetRequiredService<OnionClient>(), sp.GetRequiredService<RelayDirectory>(),
            sp.GetRequiredService<DestinationHandler>(), sp, sp.GetService<ILogger<OnionHostedService>>() ?? NullLogger<OnionHostedService>.Instance));
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<OnionHostedService>());
        // Descriptors in the DHT are checked like any record of their namespace.
        services.Configure<KademliaOptions>(o =>
        {
            if (!o.Validator.Namespaces.Contains(RelayDescriptors.Namespace)) o.Validator.Add(RelayDescriptors.Namespace, new RelayDescriptorValidator());
        });
        _ = OnionAddress.Protocol;
        return builder;
    }
}
