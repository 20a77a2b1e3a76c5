using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Nat;
using P2PStack.Nat.Relay;
using P2PStack.Network;

namespace P2PStack;

public static class RelayServiceCollectionExtensions
{
    /// <summary>
    /// Adds circuit relay v2: the relay service (<c>/libp2p/circuit/relay/0.2.0/hop</c>, served only when
    /// <see cref="RelayServiceOptions.Enabled"/>), the client (<see cref="RelayClient"/>), the relay transport
    /// (<see cref="CircuitRelayTransport"/>: dials <c>/p2p-circuit</c> addresses, serves the stop protocol) and
    /// <see cref="RelayReservationManager"/> (an <see cref="IHostedService"/> to start after the host: reservations on
    /// static relays and, with <see cref="RelayClientOptions.AutoRelay"/>, on relays when the node is private).
    /// </summary>
    public static IP2PBuilder AddCircuitRelay(this IP2PBuilder builder, Action<RelayServiceOptions>? configureService = null,
        Action<RelayClientOptions>? configureClient = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<RelayServiceOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        services.AddOptions<RelayClientOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configureService is not null) services.Configure(configureService);
        if (configureClient is not null) services.Configure(configureClient);
        services.TryAddSingleton<RelayMetrics>(sp => new RelayMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddNatTraversalMetrics();
        services.TryAddSingleton<RelayClient>();
        // The host resolves transports lazily, so the relay transport may depend on IPeerHost.
        services.TryAddSingleton<CircuitRelayTransport>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, CircuitRelayTransport>(sp => sp.GetRequiredService<CircuitRelayTransport>()));
        if (!services.Any(d => d.ServiceType == typeof(RelayService)))
        {
            services.AddSingleton<RelayService>();
            services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<RelayService>());
            services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<CircuitRelayTransport>());
            services.AddSingleton<RelayReservationManager>();
            services.AddSingleton<Microsoft.Extensions.Hosting.IHostedService>(sp => sp.GetRequiredService<RelayReservationManager>());
        }
        return builder;
    }
}
