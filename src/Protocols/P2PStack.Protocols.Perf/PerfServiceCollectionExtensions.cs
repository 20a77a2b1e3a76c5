using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Network;
using P2PStack.Protocols.Perf;

namespace P2PStack;

public static class PerfServiceCollectionExtensions
{
    /// <summary>Serves <c>/perf/1.0.0</c> (to local and private peers unless <see cref="PerfOptions.ServePublicPeers"/>)
    /// and registers <see cref="PerfService"/> for outbound runs.</summary>
    public static IP2PBuilder AddPerf(this IP2PBuilder builder, Action<PerfOptions>? configure = null)
    {
        builder.Services.AddOptions<PerfOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) builder.Services.Configure(configure);
        builder.Services.TryAddSingleton<PerfHandler>();
        builder.Services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<PerfHandler>());
        builder.Services.TryAddSingleton<PerfService>();
        return builder;
    }
}
