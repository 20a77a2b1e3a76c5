using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Transports.Tcp;

public static class TcpServiceCollectionExtensions
{
    /// <summary>Registers <see cref="TcpTransport"/> as a singleton and as one of the <see cref="ITransport"/>s.</summary>
    public static IServiceCollection AddTcpTransport(this IServiceCollection services, Action<TcpTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<TcpTransportOptions>();
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton(sp => new TcpTransport(sp.GetRequiredService<IOptions<TcpTransportOptions>>().Value));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, TcpTransport>(sp => sp.GetRequiredService<TcpTransport>()));
        return services;
    }
}
