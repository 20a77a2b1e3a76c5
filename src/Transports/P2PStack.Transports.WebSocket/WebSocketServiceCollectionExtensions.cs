using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using P2PStack.Network;

using P2PStack.Transports.WebSocket;

namespace P2PStack;

public static class WebSocketServiceCollectionExtensions
{
    /// <summary>Registers <see cref="WebSocketTransport"/> as a singleton and as one of the <see cref="ITransport"/>s.</summary>
    public static IP2PBuilder AddWebSocketTransport(this IP2PBuilder builder, Action<WebSocketTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<WebSocketTransportOptions>();
        if (configure is not null) services.Configure(configure);
        // The host's admission runs at TCP accept, before the HTTP upgrade (resolved lazily: the host resolves its
        // transports as it starts).
        services.TryAddSingleton(sp => new WebSocketTransport(sp.GetRequiredService<IOptions<WebSocketTransportOptions>>().Value,
            () => sp.GetService<IInboundAdmission>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, WebSocketTransport>(sp => sp.GetRequiredService<WebSocketTransport>()));
        return builder;
    }
}
