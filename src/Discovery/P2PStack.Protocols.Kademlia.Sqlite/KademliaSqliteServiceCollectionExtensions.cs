using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Sqlite;
using P2PStack.Protocols.Kademlia.Storage;

namespace P2PStack;

public static class KademliaSqliteServiceCollectionExtensions
{
    /// <summary>
    /// Keeps the DHT's value records and provider records in the SQLite database at <paramref name="path"/> instead of
    /// memory, with the limits of <see cref="KademliaOptions"/>. Call it before or after <c>AddKademlia</c>. Their
    /// records and announcements reserve in the resource manager's <c>service kademlia</c> scope, as the in-memory
    /// stores' do.
    /// </summary>
    public static IP2PBuilder AddKademliaSqliteStores(this IP2PBuilder builder, string path, Action<SqliteKademliaStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var options = new SqliteKademliaStoreOptions { Path = path };
        configure?.Invoke(options);
        var services = builder.Services;
        services.AddOptions<KademliaOptions>();
        services.Replace(ServiceDescriptor.Singleton(_ => new KademliaSqliteDatabase(options)));
        services.Replace(ServiceDescriptor.Singleton<IDhtRecordStore>(sp => new SqliteRecordStore(
            sp.GetRequiredService<KademliaSqliteDatabase>(), sp.GetRequiredService<IOptions<KademliaOptions>>().Value.RecordLimits,
            sp.GetService<IResourceManager>()?.Service(KademliaDht.ResourceService))));
        services.Replace(ServiceDescriptor.Singleton<IProviderStore>(sp => new SqliteProviderStore(
            sp.GetRequiredService<KademliaSqliteDatabase>(), sp.GetRequiredService<IOptions<KademliaOptions>>().Value.ProviderLimits,
            sp.GetService<IResourceManager>()?.Service(KademliaDht.ResourceService))));
        return builder;
    }
}
