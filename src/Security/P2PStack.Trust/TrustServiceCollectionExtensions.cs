using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using P2PStack.Discovery;
using P2PStack.Network;
using P2PStack.Trust;

namespace P2PStack;

public static class TrustServiceCollectionExtensions
{
    /// <summary>
    /// Adds the trust store and enforces a security level through the connection gater (dial and after the handshake)
    /// and the discovery policy. Default level: <see cref="SecurityLevel.Secure"/>; the store is in memory unless
    /// <see cref="TrustOptions.DatabasePath"/> is set.
    /// </summary>
    public static IP2PBuilder AddTrust(this IP2PBuilder builder, Action<TrustOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var options = services.AddOptions<TrustOptions>();
        if (configure is not null) options.Configure(configure);
        services.TryAddSingleton(sp => new TrustStore(sp.GetRequiredService<IOptions<TrustOptions>>().Value, sp.GetService<TimeProvider>()));
        services.TryAddSingleton(sp => new TrustMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<TrustGater>();
        services.AddSingleton<IConnectionGater>(sp => sp.GetRequiredService<TrustGater>());
        services.AddSingleton<IDiscoveryPolicy>(sp => sp.GetRequiredService<TrustGater>());
        return builder;
    }
}
