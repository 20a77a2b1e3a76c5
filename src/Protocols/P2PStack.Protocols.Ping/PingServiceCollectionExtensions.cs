using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Network;
using P2PStack.Protocols.Ping;

namespace P2PStack;

public static class PingServiceCollectionExtensions
{
    /// <summary>Serves <c>/ipfs/ping/1.0.0</c> and registers <see cref="PingService"/> for outbound pings.</summary>
    public static IP2PBuilder AddPing(this IP2PBuilder builder, Action<PingOptions>? configure = null)
    {
        builder.Services.AddOptions<PingOptions>();
        if (configure is not null) builder.Services.Configure(configure);
        builder.Services.TryAddSingleton<PingHandler>();
        builder.Services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<PingHandler>());
        builder.Services.TryAddSingleton<PingService>();
        return builder;
    }
}
