using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Muxers.Yamux;

namespace P2PStack;

public static class YamuxServiceCollectionExtensions
{
    /// <summary>Registers <see cref="YamuxOptions"/> and the <see cref="YamuxMuxer"/>.</summary>
    public static IServiceCollection AddYamux(this IServiceCollection services, Action<YamuxOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<YamuxOptions>().Validate(options =>
        {
            options.Validate();
            return true;
        });
        if (configure is not null)
        {
            builder.Configure(configure);
        }

        services.TryAddSingleton<YamuxMuxer>();
        return services;
    }
}
