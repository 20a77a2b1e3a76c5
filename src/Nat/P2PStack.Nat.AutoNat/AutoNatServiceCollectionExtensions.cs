using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using P2PStack.Nat.AutoNat;
using P2PStack.Network;

namespace P2PStack;

public static class AutoNatServiceCollectionExtensions
{
    /// <summary>
    /// Adds AutoNAT v2 and v1: the servers (<c>/libp2p/autonat/2/dial-request</c>, <c>/libp2p/autonat/1.0.0</c>) when
    /// <see cref="AutoNatOptions.EnableServer"/>, the client and its dial-back handler, and <see cref="AutoNatService"/>
    /// (an <see cref="IHostedService"/> to start after the host) that probes our reachability.
    /// </summary>
    public static IP2PBuilder AddAutoNat(this IP2PBuilder builder, Action<AutoNatOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<AutoNatOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton<AutoNatMetrics>(sp => new AutoNatMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<AutoNatClient>();
        services.TryAddSingleton<AutoNatV1Server>();
        services.TryAddSingleton<AutoNatV2Server>();
        if (!services.Any(d => d.ServiceType == typeof(AutoNatService)))
        {
            services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<AutoNatClient>());
            services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<IOptions<AutoNatOptions>>().Value.EnableServer
                ? sp.GetRequiredService<AutoNatV2Server>() : new DisabledHandler());
            services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<IOptions<AutoNatOptions>>().Value.EnableServer
                ? sp.GetRequiredService<AutoNatV1Server>() : new DisabledHandler());
            services.AddSingleton<AutoNatService>();
            services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<AutoNatService>());
        }
        return builder;
    }

    /// <summary>Serves no protocol: stands in for a server the options turned off.</summary>
    private sealed class DisabledHandler : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols { get; } = [];

        public Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            stream.Reset();
            return Task.CompletedTask;
        }
    }
}
