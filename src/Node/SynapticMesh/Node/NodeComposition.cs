using Microsoft.Extensions.DependencyInjection;
using P2PStack;
using P2PStack.Identity;
using P2PStack.Neural;
using P2PStack.Security.Noise;
using P2PStack.Trust;
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
    /// <param name="perfForPublicPeers">Serves <c>/perf/1.0.0</c> to peers on public addresses too (<c>p2p start --perf</c>);
    /// local and private peers are always served.</param>
    public static IServiceCollection AddSynapticMeshNode(this IServiceCollection services, PrivateKey identity, NodeConfig config, NodeHome home,
        bool metrics = false, bool perfForPublicPeers = false)
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
                .AddPerf(perf => perf.ServePublicPeers = perfForPublicPeers)
                // The mesh's own DHT (not the public IPFS one): it holds the /agent records neural messaging resolves.
                .AddKademlia(kad =>
                {
                    kad.ProtocolId = NeuralDhtProtocolId;
                    kad.BootstrapPeers.AddRange(config.BootstrapAddresses);
                })
                .AddKademliaSqliteStores(Path.Combine(home.Directory, "dht.db")) // records and providers persist
                .AddGossipSub()
                .AddNeuralMesh();
            // A private network's protector is the outermost layer, so it goes before any other protector.
            if (config.SwarmKey is { } swarmKey) p2p.AddPrivateNetwork(home.Resolve(swarmKey));
            p2p.AddTcpTransport();
            p2p.AddWebSocketTransport();
            // Registration order is multistream-select preference order: by default the Noise suites, then TLS.
            foreach (string channel in config.SecureChannels)
            {
                if (channel == "noise") p2p.AddNoise();
                else if (channel == "tls") p2p.AddTls();
            }
            p2p.AddYamux();
            var level = config.SecurityLevel;
            p2p.AddTrust(trust =>
            {
                trust.Level = level;
                trust.DatabasePath = home.TrustStorePath;
                trust.AutoTrustFirst = config.AutoTrustFirst;
                foreach (var trusted in config.Trusted) trust.TrustedPeers.Add((PeerId.Parse(trusted.PeerId), trusted.Name));
            });
            if (config.LanDiscovery) p2p.AddSignedLanAnnouncements();
            if (metrics) p2p.AddPrometheusExporter();
        });
        // End-to-end sealed messages by default at secure and strict (docs/specs/neural-seal.md).
        services.Configure<NeuralMeshOptions>(o =>
        {
            o.SealByDefault = config.SecurityLevel >= SecurityLevel.Secure;
            foreach (var (swarm, key) in config.SwarmKeys) o.SwarmKeys[swarm] = Convert.FromHexString(key);
        });
        services.AddSingleton(home);
        services.AddHostedService<PeerHostService>();
        // After PeerHostService: the NAT services start once the host runs.
        NodeNat.AddNatTraversal(new P2PBuilder(services), config);
        services.AddSingleton(sp => new MeshManager(sp.GetRequiredService<P2PStack.Network.IPeerHost>(),
            sp.GetRequiredService<P2PStack.Protocols.Ping.PingService>(), home, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<MeshManager>>()));
        services.AddHostedService(sp => sp.GetRequiredService<MeshManager>());
        services.AddNeuralCommandHandler<NodeCommandHandler>();
        return services;
    }
}
