using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using P2PStack.Network;
using P2PStack.PeerStore.Sqlite;

namespace P2PStack;

public static class SqlitePeerStoreServiceCollectionExtensions
{
    /// <summary>Keeps the peer store in the SQLite database at <paramref name="path"/>, replacing the in-memory store. Its
    /// peers reserve in the resource manager's <c>service peerstore</c> scope, as the in-memory store's do.</summary>
    public static IP2PBuilder AddSqlitePeerStore(this IP2PBuilder builder, string path, Action<SqlitePeerStoreOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var options = new SqlitePeerStoreOptions { Path = path };
        configure?.Invoke(options);
        builder.Services.Replace(ServiceDescriptor.Singleton<SqlitePeerStore>(sp => new SqlitePeerStore(options,
            sp.GetService<ILogger<SqlitePeerStore>>(), sp.GetService<IResourceManager>()?.Service(SqlitePeerStore.ResourceService))));
        builder.Services.Replace(ServiceDescriptor.Singleton<IPeerStore>(sp => sp.GetRequiredService<SqlitePeerStore>()));
        return builder;
    }
}
