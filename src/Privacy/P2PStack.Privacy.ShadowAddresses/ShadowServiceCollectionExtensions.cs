using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Privacy.ShadowAddresses.Connections;
using P2PStack.Privacy.ShadowAddresses.Directory;
using P2PStack.Privacy.ShadowAddresses;
using P2PStack.Privacy.ShadowAddresses.Service;
using P2PStack.Protocols.Kademlia;

namespace P2PStack;

public static class ShadowServiceCollectionExtensions
{
    /// <summary>
    /// Adds shadow addresses: the <c>/shadow</c> multiaddr protocol, the DHT validator of the <c>/shadow/</c>
    /// namespace (this node stores and checks descriptors for others), and <see cref="ShadowDirectory"/> to publish
    /// and resolve descriptors. Needs Kademlia (<c>AddKademlia</c>).
    /// </summary>
    public static IP2PBuilder AddShadowAddresses(this IP2PBuilder builder, Action<ShadowOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        _ = ShadowAddress.Protocol;
        _ = P2PStack.Privacy.Onion.Transport.OnionAddress.Protocol; // introduction points may list onion addresses
        var options = builder.Services.AddOptions<ShadowOptions>();
        if (configure is not null) options.Configure(configure);
        builder.Services.TryAddSingleton(sp => new ShadowMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        builder.Services.AddOptions<ShadowPoolOptions>();
        builder.Services.TryAddSingleton(sp => new ShadowAddressPool(sp.GetRequiredService<IOptions<ShadowPoolOptions>>(),
            sp.GetRequiredService<ShadowMetrics>(), sp.GetService<TimeProvider>(), sp.GetRequiredService<IOptions<ShadowOptions>>()));
        builder.Services.TryAddSingleton<IShadowDhtAccess>(sp => DhtAccess(sp));
        builder.Services.TryAddSingleton(sp => new ShadowDirectory(sp.GetRequiredService<IShadowDhtAccess>(),
            sp.GetRequiredService<IOptions<ShadowOptions>>(), sp.GetRequiredService<ShadowMetrics>(), sp.GetService<TimeProvider>()));
        builder.Services.AddOptions<KademliaOptions>().Configure<IOptions<ShadowOptions>, IServiceProvider>((kad, shadow, sp) =>
        {
            if (!kad.Validator.Namespaces.Contains(ShadowDescriptor.Namespace))
                kad.Validator.Add(ShadowDescriptor.Namespace, new ShadowDescriptorValidator(shadow.Value.PeriodLength,
                    sp.GetService<TimeProvider>(), sp.GetRequiredService<ShadowMetrics>()));
        });
        return builder;
    }

    // RequirePadding without the padding module could never be met: refused at start, not at each introduction.
    private static ShadowIntroductions? RequirePaddingNeedsTheModule(IServiceProvider sp) =>
        sp.GetRequiredService<IOptions<ShadowPublisherOptions>>().Value.RequirePadding
        && !sp.GetServices<ISecuredConnectionFilter>().Any(f => f.ProtocolId == P2PStack.Privacy.Padding.PaddingFilter.Id)
            ? throw new InvalidOperationException("ShadowPublisherOptions.RequirePadding needs the padding module (AddPadding)")
            : null;

    // Over circuits when asked, or by default when the node runs the onion client; never a silent fall back to the
    // node's own identity when circuits were asked for.
    private static IShadowDhtAccess DhtAccess(IServiceProvider sp)
    {
        var access = sp.GetRequiredService<IOptions<ShadowOptions>>().Value.DirectoryAccess;
        var onion = sp.GetService<IOptions<OnionOptions>>()?.Value;
        bool hasClient = onion is { EnableClient: true } && sp.GetService<OnionClient>() is not null;
        if (access == ShadowDirectoryAccess.Circuits && !hasClient)
            throw new InvalidOperationException("shadow descriptors over circuits need the onion client (AddOnion with EnableClient)");
        if (access == ShadowDirectoryAccess.Direct || !hasClient) return new DirectShadowDhtAccess(sp.GetRequiredService<KademliaDht>());
        return new CircuitShadowDhtAccess(sp.GetRequiredService<KademliaDht>(), sp.GetRequiredService<OnionClient>(), sp.GetRequiredService<IPeerHost>());
    }

    /// <summary>
    /// Lets this node connect to shadow addresses (docs/specs/shadow.md, section 7): the <c>/shadow</c> transport and
    /// <see cref="ShadowConnector.ConnectAsync"/>, over onion circuits to the addresses' introduction points. Needs
    /// <c>AddShadowAddresses</c> and <c>AddOnion</c> with its client enabled. With <c>AddPadding</c> the connections are
    /// padded as its policy says for shadow connections (on by default).
    /// </summary>
    public static IP2PBuilder AddShadowConnections(this IP2PBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(sp => new ShadowConnector(sp.GetRequiredService<IPeerHost>(), sp.GetRequiredService<OnionClient>(),
            sp.GetRequiredService<ShadowDirectory>(), sp.GetRequiredService<ShadowMetrics>(), sp.GetService<P2PStack.Privacy.Padding.PaddingPolicy>()));
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ITransport, ShadowConnector>(sp => sp.GetRequiredService<ShadowConnector>()));
        return builder;
    }

    /// <summary>
    /// Runs a shadow service: <see cref="ShadowPublisher"/> publishes the pool's descriptors on a schedule, with
    /// introduction points from the onion relay directory (<see cref="OnionIntroductionSource"/>) unless another
    /// <see cref="IShadowIntroductionSource"/> is registered. Needs <c>AddShadowAddresses</c> and, for the default
    /// source, <c>AddOnion</c> (client on, accepting circuit connections: introduced connections arrive through its
    /// listener). Start it after the host.
    /// </summary>
    public static IP2PBuilder AddShadowService(this IP2PBuilder builder, Action<ShadowPublisherOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<ShadowPublisherOptions>();
        if (configure is not null) options.Configure(configure);
        // The relays chosen are held by registered circuits (ShadowIntroductions), so descriptors list only points
        // that introduce; introduced connections reach the host through the onion listener.
        builder.Services.TryAddSingleton(sp => RequirePaddingNeedsTheModule(sp) ?? new ShadowIntroductions(new OnionIntroductionSource(sp.GetRequiredService<RelayDirectory>(),
            sp.GetRequiredService<IOptions<OnionOptions>>(), sp.GetRequiredService<IOptions<ShadowPublisherOptions>>(),
            sp.GetRequiredService<ILocalIdentity>()), sp.GetRequiredService<OnionClient>(), sp.GetRequiredService<OnionListeners>(),
            sp.GetRequiredService<ShadowAddressPool>(), sp.GetRequiredService<ShadowMetrics>(),
            sp.GetService<ILogger<ShadowIntroductions>>() ?? NullLogger<ShadowIntroductions>.Instance,
            sp.GetRequiredService<IOptions<ShadowPublisherOptions>>(), sp.GetRequiredService<IOptions<OnionOptions>>(), sp.GetService<TimeProvider>(),
            sp.GetService<IEventBus>()));
        builder.Services.TryAddSingleton<IShadowIntroductionSource>(sp => sp.GetRequiredService<ShadowIntroductions>());
        builder.Services.TryAddSingleton(sp => new ShadowPublisher(sp.GetRequiredService<ShadowAddressPool>(), sp.GetRequiredService<ShadowDirectory>(),
            sp.GetRequiredService<IShadowIntroductionSource>(), sp.GetRequiredService<IOptions<ShadowOptions>>(),
            sp.GetRequiredService<IOptions<ShadowPublisherOptions>>(),
            sp.GetService<ILogger<ShadowPublisher>>() ?? NullLogger<ShadowPublisher>.Instance, sp.GetService<TimeProvider>()));
        builder.Services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ShadowPublisher>());
        return builder;
    }
}
