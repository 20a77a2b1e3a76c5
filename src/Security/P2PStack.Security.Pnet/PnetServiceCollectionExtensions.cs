using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Security.Pnet;

namespace P2PStack;

public static class PnetServiceCollectionExtensions
{
    /// <summary>
    /// Makes this node a member of the private network of <paramref name="key"/> (libp2p pnet): every connection,
    /// both directions, is wrapped by the PSK protector before multistream-select. Register it before other
    /// protectors so it is the outermost layer on the wire.
    /// </summary>
    public static IP2PBuilder AddPrivateNetwork(this IP2PBuilder builder, SwarmKey key, Action<PnetOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(key);
        builder.Services.AddOptions<PnetOptions>().Configure(o =>
        {
            o.Key = key;
            configure?.Invoke(o);
        });
        builder.Services.AddSingleton<PnetProtector>();
        builder.Services.AddSingleton<IConnectionProtector>(sp => sp.GetRequiredService<PnetProtector>());
        return builder;
    }

    /// <summary>Like <see cref="AddPrivateNetwork(IP2PBuilder, SwarmKey, Action{PnetOptions}?)"/> with the key read from a
    /// swarm key file now (a bad file fails here, not at the first connection).</summary>
    public static IP2PBuilder AddPrivateNetwork(this IP2PBuilder builder, string swarmKeyPath, Action<PnetOptions>? configure = null) =>
        builder.AddPrivateNetwork(SwarmKey.Load(swarmKeyPath), configure);
}
