using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using P2PStack.Nat.Stun;

namespace P2PStack;

public static class StunServiceCollectionExtensions
{
    /// <summary>
    /// Adds the STUN client (<see cref="StunClient"/>, <see cref="NatBehaviourDiscovery"/>) and the tiny STUN server
    /// (<see cref="StunServer"/>, an <see cref="IHostedService"/> that binds only when
    /// <see cref="StunServerOptions.Enabled"/>).
    /// </summary>
    public static IP2PBuilder AddStun(this IP2PBuilder builder, Action<StunClientOptions>? configureClient = null,
        Action<StunServerOptions>? configureServer = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<StunClientOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        services.AddOptions<StunServerOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configureClient is not null) services.Configure(configureClient);
        if (configureServer is not null) services.Configure(configureServer);
        services.TryAddSingleton<StunMetrics>(sp => new StunMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<StunClient>();
        services.TryAddSingleton<NatBehaviourDiscovery>();
        if (!services.Any(d => d.ServiceType == typeof(StunServer)))
        {
            services.AddSingleton<StunServer>();
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<StunServer>());
        }
        return builder;
    }
}
