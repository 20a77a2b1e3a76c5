using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Discovery.Rendezvous;
using P2PStack.Network;

namespace P2PStack;

public static class RendezvousServiceCollectionExtensions
{
    /// <summary>Registers <see cref="RendezvousClient"/> (register, unregister, discover at rendezvous points).</summary>
    public static IP2PBuilder AddRendezvous(this IP2PBuilder builder, Action<RendezvousClientOptions>? configure = null)
    {
        builder.Services.AddOptions<RendezvousClientOptions>();
        if (configure is not null) builder.Services.Configure(configure);
        builder.Services.TryAddSingleton<RendezvousClient>();
        return builder;
    }

    /// <summary>Makes this peer a rendezvous point: serves <c>/rendezvous/1.0.0</c> (<see cref="RendezvousServer"/>).</summary>
    public static IP2PBuilder AddRendezvousServer(this IP2PBuilder builder, Action<RendezvousServerOptions>? configure = null)
    {
        builder.Services.AddOptions<RendezvousServerOptions>();
        if (configure is not null) builder.Services.Configure(configure);
        if (builder.Services.Any(d => d.ServiceType == typeof(RendezvousServer))) return builder;
        builder.Services.AddSingleton<RendezvousServer>();
        builder.Services.AddSingleton<IProtocolHandler>(sp => sp.GetRequiredService<RendezvousServer>());
        return builder;
    }
}
