using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;

namespace P2PStack;

public static class YamuxServiceCollectionExtensions
{
    /// <summary>Registers <see cref="YamuxOptions"/> and the <see cref="YamuxMuxer"/> (also as an
    /// <see cref="IStreamMuxer"/>).</summary>
    public static IP2PBuilder AddYamux(this IP2PBuilder builder, Action<YamuxOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<YamuxOptions>(); // YamuxMuxer validates the values when it is built
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton<YamuxMuxer>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStreamMuxer, YamuxMuxer>(
            provider => provider.GetRequiredService<YamuxMuxer>()));
        return builder;
    }
}
