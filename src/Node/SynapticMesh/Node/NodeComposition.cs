using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.PeerStore.Sqlite;
using P2PStack.Protocols.Kademlia.Validation;
using P2PStack.Security.Noise;
using P2PStack.Transports.Tcp;
using P2PStack.Transports.WebSocket;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>Composes the libp2p modules the node runs, from its config and identity.</summary>
public static class NodeComposition
{
    /// <summary>Protocol id of the node's Kademlia DHT unless the config names another.</summary>
    public const string NeuralDhtProtocolId = NodeConfig.DefaultDhtProtocol;

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
                // By default the mesh's own DHT (/synaptic/kad/1.0.0), not the public IPFS one; /ipfs/kad/1.0.0 joins
                // js-libp2p and IPFS-style DHTs. Either way it holds the /agent records neural messaging resolves
                // (AddNeuralMesh registers their validator) and the /v values of `dht put`; /pk and /ipns records,
                // which go and js peers store, are validated as they validate them.
                .AddKademlia(kad =>
                {
                    kad.ProtocolId = config.DhtProtocol;
                    kad.BootstrapPeers.AddRange(config.BootstrapAddresses);
                    kad.Validator.Add(ValueRecordValidator.Namespace, new ValueRecordValidator());
                    kad.Validator.Add(IpnsRecordValidator.Namespace, new IpnsRecordValidator());
                })
                .AddKademliaSqliteStores(Path.Combine(home.Directory, "dht.db")) // records and providers persist
                .AddGossipSub()
                .AddNeuralMesh();
            p2p.AddTcpTransport();
            p2p.AddWebSocketTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            if (metrics) p2p.AddPrometheusExporter();
        });
        // Latency samples also go to a window, for status's min/mean/max.
        services.TryAddSingleton<LatencyWindow>();
        services.Replace(ServiceDescriptor.Singleton<IPeerStore>(sp =>
            new WindowedLatencyPeerStore(sp.GetRequiredService<SqlitePeerStore>(), sp.GetRequiredService<LatencyWindow>())));
        services.AddHostedService<PeerHostService>();
        services.AddNeuralCommandHandler<NodeCommandHandler>();
        services.TryAddSingleton<SwarmListeners>();
        // Discovery starts after the peer host (hosted services start in order), so what it finds can be dialed.
        if (config.MdnsEnabled) AddMdns(services, config);
        return services;
    }

    private static void AddMdns(IServiceCollection services, NodeConfig config)
    {
        var listen = config.ListenAddresses;
        bool loopbackOnly = listen.All(a => a.GetIPAddress() is { } ip && IPAddress.IsLoopback(ip));
        new P2PBuilder(services).AddMdns(mdns =>
        {
            mdns.ServiceName = config.Mdns.ServiceName;
            mdns.Port = config.Mdns.Port;
            mdns.QueryInterval = TimeSpan.FromSeconds(config.Mdns.QueryIntervalSeconds);
            mdns.DialDiscovered = false; // DiscoveredPeerDialer dials, up to the connection manager's low watermark
            if (loopbackOnly)
            {
                // A node reachable only on loopback announces its loopback addresses, on the loopback interface only,
                // and nothing leaves the machine (TTL 1).
                mdns.IncludeLoopback = true;
                mdns.Interfaces.Add(LoopbackInterfaceName());
                mdns.MulticastTimeToLive = 1;
                mdns.UseIPv6 = listen.Any(a => a.GetIPAddress() is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 });
                mdns.UseIPv4 = listen.Any(a => a.GetIPAddress() is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetwork });
            }
        });
        services.AddOptions<DiscoveredPeerDialerOptions>();
        services.AddHostedService<DiscoveredPeerDialer>();
    }

    private static string LoopbackInterfaceName() =>
        NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(i => i.NetworkInterfaceType == NetworkInterfaceType.Loopback)?.Name ?? "lo";
}
