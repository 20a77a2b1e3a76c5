using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using P2PStack.Network;

using P2PStack.Transports.Tcp;

namespace P2PStack;

public static class TcpServiceCollectionExtensions
{
    /// <summary>Registers <see cref="TcpTransport"/> as a singleton and as one of the <see cref="ITransport"/>s.</summary>
    public static IP2PBuilder AddTcpTransport(this IP2PBuilder builder, Action<TcpTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<TcpTransportOptions>();
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton(sp => new TcpTransport(sp.GetRequiredService<IOptions<TcpTransportOptions>>().Value));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, TcpTransport>(sp => sp.GetRequiredService<TcpTransport>()));
        return builder;
    }
}
