using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Protocols.Kademlia.Storage;

namespace P2PStack;

public static class KademliaServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Kademlia DHT: <see cref="KademliaDht"/> for queries and <see cref="KademliaHostedService"/> (an
    /// <see cref="IHostedService"/>) that binds it to the host. Records and providers live in the registered
    /// <see cref="IDhtRecordStore"/> / <see cref="IProviderStore"/> (in memory unless one is registered). Identify must
    /// be added too for peers to join the routing table from connections.
    /// </summary>
    public static IP2PBuilder AddKademlia(this IP2PBuilder builder, Action<KademliaOptions>? configure = null)
    {
        var services = builder.Services;
        services.AddOptions<KademliaOptions>();
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton(sp => new HostKadNetwork(sp.GetRequiredService<IPeerHost>(), sp.GetRequiredService<IOptions<KademliaOptions>>().Value));
        // In memory, their bytes count in the resource manager's "service kademlia" scope.
        services.TryAddSingleton<IDhtRecordStore>(sp => new InMemoryRecordStore(sp.GetRequiredService<IOptions<KademliaOptions>>().Value.RecordLimits,
            sp.GetService<IResourceManager>()?.Service(KademliaDht.ResourceService)));
        services.TryAddSingleton<IProviderStore>(sp => new InMemoryProviderStore(sp.GetRequiredService<IOptions<KademliaOptions>>().Value.ProviderLimits,
            sp.GetService<IResourceManager>()?.Service(KademliaDht.ResourceService)));
        services.TryAddSingleton(sp =>
        {
            var network = sp.GetRequiredService<HostKadNetwork>();
            return new KademliaDht(sp.GetRequiredService<IPeerHost>().PeerId, sp.GetRequiredService<IOptions<KademliaOptions>>().Value,
                network, network, sp.GetRequiredService<IDhtRecordStore>(), sp.GetRequiredService<IProviderStore>(),
                sp.GetService<TimeProvider>(), sp.GetService<ILogger<KademliaDht>>(), sp.GetService<IMeterFactory>());
        });
        services.TryAddSingleton<KadStreamHandler>();
        services.TryAddSingleton<KademliaHostedService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<KademliaHostedService>());
        return builder;
    }
}
