using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using P2PStack.Nat;
using P2PStack.Nat.Dcutr;
using P2PStack.Network;

namespace P2PStack;

public static class DcutrServiceCollectionExtensions
{
    /// <summary>
    /// Adds DCUtR (<c>/libp2p/dcutr</c>): <see cref="DcutrService"/> answers hole punches and, as an
    /// <see cref="IHostedService"/> started after the host, upgrades inbound relayed connections. TCP hole punching
    /// needs the TCP transport's <c>ReusePort</c> (dials from the listen port).
    /// </summary>
    public static IP2PBuilder AddDcutr(this IP2PBuilder builder, Action<DcutrOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<DcutrOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton<DcutrMetrics>(sp => new DcutrMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddNatTraversalMetrics();
        if (!services.Any(d => d.ServiceType == typeof(DcutrService)))
        {
            services.AddSingleton<DcutrService>();
            services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<DcutrService>());
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<DcutrService>());
        }
        return builder;
    }
}
