using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;

namespace P2PStack;

public static class GossipSubServiceCollectionExtensions
{
    /// <summary>
    /// Adds gossipsub (/meshsub/1.2.0, 1.1.0, 1.0.0, with /floodsub/1.0.0 fallback) and registers
    /// <see cref="GossipSubService"/> for subscribing and publishing.
    /// </summary>
    public static IP2PBuilder AddGossipSub(this IP2PBuilder builder, Action<GossipSubOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<GossipSubOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) builder.Services.Configure(configure);
        builder.Services.TryAddSingleton<GossipSubService>();
        builder.Services.TryAddSingleton<GossipSubHandler>();
        builder.Services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<GossipSubHandler>());
        return builder;
    }
}
