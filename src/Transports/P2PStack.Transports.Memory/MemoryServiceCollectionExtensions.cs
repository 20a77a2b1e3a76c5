using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using P2PStack.Network;

using P2PStack.Transports.Memory;

namespace P2PStack;

public static class MemoryServiceCollectionExtensions
{
    /// <summary>Registers <see cref="MemoryTransport"/> on the container's <see cref="MemoryNetwork"/> (a singleton,
    /// added here unless one is registered already — register your own to share a network between hosts).</summary>
    public static IP2PBuilder AddMemoryTransport(this IP2PBuilder builder, Action<MemoryTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<MemoryTransportOptions>();
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton<MemoryNetwork>();
        services.TryAddSingleton(sp => new MemoryTransport(
            sp.GetRequiredService<MemoryNetwork>(), sp.GetRequiredService<IOptions<MemoryTransportOptions>>().Value));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, MemoryTransport>(sp => sp.GetRequiredService<MemoryTransport>()));
        return builder;
    }
}
