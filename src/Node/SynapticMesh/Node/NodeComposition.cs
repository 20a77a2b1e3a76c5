using Microsoft.Extensions.DependencyInjection;
using P2PStack;
using P2PStack.Identity;
using P2PStack.Security.Noise;
using P2PStack.Transports.Tcp;
using P2PStack.Transports.WebSocket;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>Composes the libp2p modules the node runs, from its config and identity.</summary>
public static class NodeComposition
{
    /// <summary>Protocol id of the node's Kademlia DHT.</summary>
    public const string NeuralDhtProtocolId = "/synaptic/kad/1.0.0";

    /// <param name="metrics">Registers the Prometheus exporter (<c>p2p start --metrics</c>).</param>
    public static IServiceCollection AddSynapticMeshNode(this IServiceCollection services, PrivateKey identity, NodeConfig config, NodeHome home,
        bool metrics = false)
    {
        services.AddP2PStack(p2p =>
        {
            p2p.WithIdentity(identity)
                .ConfigureHost(host =>
                {
                    host.ListenAddresses.AddRange(config.ListenAddresses);
                    // max-peers is the connection manager's high watermark; trimming goes down to 80% of it, and
                    // the hard limit leaves room for new connections still in their grace period.
                    host.ConnectionManager.HighWater = config.MaxPeers;
                    host.ConnectionManager.LowWater = Math.Max(1, config.MaxPeers * 4 / 5);
                    host.Limits.MaxConnections = Math.Max(config.MaxPeers * 2, config.MaxPeers + 8);
                })
                .AddSqlitePeerStore(home.PeerStorePath)
                .AddIdentify()
                .AddPing()
                .AddPerf()
                // The mesh's own DHT (not the public IPFS one): it holds the /agent records neural messaging resolves.
                .AddKademlia(kad =>
                {
                    kad.ProtocolId = NeuralDhtProtocolId;
                    kad.BootstrapPeers.AddRange(config.BootstrapAddresses);
                })
                .AddKademliaSqliteStores(Path.Combine(home.Directory, "dht.db")) // records and providers persist
                .AddGossipSub()
                .AddNeuralMesh()
                // DAG consensus over neural envelopes; its DAG persists in home/dag.db.
                .AddDagConsensus(dag => config.Dag.Apply(dag, home));
            p2p.AddTcpTransport();
            p2p.AddWebSocketTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            if (metrics) p2p.AddPrometheusExporter();
        });
        services.AddHostedService<PeerHostService>();
        services.AddNeuralCommandHandler<NodeCommandHandler>();
        return services;
    }
}
