using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using P2PStack.Nat.PortMapping;

namespace P2PStack;

public static class PortMappingServiceCollectionExtensions
{
    /// <summary>
    /// Adds port mapping (UPnP IGD, PCP, NAT-PMP): <see cref="PortMapper"/> and <see cref="PortMappingService"/>, an
    /// <see cref="IHostedService"/> to start after the host, which maps the host's TCP listen ports while it runs.
    /// </summary>
    public static IP2PBuilder AddPortMapping(this IP2PBuilder builder, Action<PortMappingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<PortMappingOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton<PortMappingMetrics>(sp => new PortMappingMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<PortMapper>();
        if (!services.Any(d => d.ServiceType == typeof(PortMappingService)))
        {
            services.AddSingleton<PortMappingService>();
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<PortMappingService>());
        }
        return builder;
    }
}
