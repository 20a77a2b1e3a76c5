using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Network;
using P2PStack.Protocols.Identify;

namespace P2PStack;

public static class IdentifyServiceCollectionExtensions
{
    /// <summary>Serves identify and identify push, and identifies every newly connected peer.</summary>
    public static IP2PBuilder AddIdentify(this IP2PBuilder builder, Action<IdentifyOptions>? configure = null)
    {
        builder.Services.AddOptions<IdentifyOptions>();
        if (configure is not null) builder.Services.Configure(configure);
        builder.Services.TryAddSingleton<IdentifyService>();
        builder.Services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<IdentifyService>());
        return builder;
    }
}
