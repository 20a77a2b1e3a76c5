using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Network;
using P2PStack.Privacy.Padding;

namespace P2PStack;

public static class PaddingServiceCollectionExtensions
{
    /// <summary>
    /// Adds the traffic padding filter (<c>/synaptic/padding/1.0.0</c>): served to every dialer that asks for it, and
    /// asked for by this node's dials through <see cref="PaddingPolicy"/> (circuit links and shadow connections by
    /// default), and by every dial that names no filters when <see cref="PaddingOptions.OnOtherConnections"/> is on
    /// (<see cref="PaddingDefaults"/>; then, if <see cref="PaddingOptions.Required"/>, inbound connections without it are
    /// refused too). Dials may also ask directly with <c>DialOptions.Filters = [PaddingFilter.Id]</c>.
    /// </summary>
    public static IP2PBuilder AddPadding(this IP2PBuilder builder, Action<PaddingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<PaddingOptions>();
        if (configure is not null) options.Configure(configure);
        builder.Services.TryAddSingleton(sp => new PaddingMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        builder.Services.TryAddSingleton<PaddingFilter>();
        builder.Services.TryAddSingleton<PaddingPolicy>();
        // Padding on every connection (OnOtherConnections): the host asks for it on dials that name no filters.
        builder.Services.TryAddSingleton<PaddingDefaults>();
        builder.Services.TryAddSingleton<IDefaultConnectionFilters>(sp => sp.GetRequiredService<PaddingDefaults>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ISecuredConnectionFilter, PaddingFilter>(sp => sp.GetRequiredService<PaddingFilter>()));
        return builder;
    }
}
