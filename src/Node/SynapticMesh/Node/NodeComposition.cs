using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.PeerStore.Sqlite;
using P2PStack.Protocols.Kademlia.Validation;
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
    /// <summary>Protocol id of the node's Kademlia DHT unless the config names another.</summary>
    public const string NeuralDhtProtocolId = NodeConfig.DefaultDhtProtocol;

    /// <param name="metrics">Registers the Prometheus exporter (<c>p2p start --metrics</c>).</param>
    /// <param name="perfForPublicPeers">Serves <c>/perf/1.0.0</c> to peers on public addresses too (<c>p2p start --perf</c>);
    /// local and private peers are always served.</param>
    /// <param name="perfMaxBytes">Caps of one perf stream's download and upload (<c>p2p start --perf-max-bytes</c>); null
    /// keeps the <see cref="P2PStack.Protocols.Perf.PerfOptions"/> defaults.</param>
    public static IServiceCollection AddSynapticMeshNode(this IServiceCollection services, PrivateKey identity, NodeConfig config, NodeHome home,
        bool metrics = false, bool perfForPublicPeers = false, ulong? perfMaxBytes = null)
    {
        // The onion module listens on /p2p-onion, so its hosted service starts after PeerHostService (below).
        List<ServiceDescriptor> onionHosted = [];
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
                    if (config.ResourceMemoryMiB is { } memory) host.Resources.Memory = memory << 20;
                })
                .AddSqlitePeerStore(home.PeerStorePath)
                .AddIdentify()
                .AddPing()
                .AddPerf(perf =>
                {
                    perf.ServePublicPeers = perfForPublicPeers;
                    if (perfMaxBytes is { } max) perf.MaxServeBytes = perf.MaxUploadBytes = max;
                })
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
                .AddNeuralMesh()
                // DAG consensus over neural envelopes; its DAG persists in home/dag.db.
                .AddDagConsensus(dag => config.Dag.Apply(dag, home));
            // Every node stores and checks shadow descriptors for others and resolves shadow addresses.
            p2p.AddShadowAddresses(o => o.DirectoryWaitTimeout = TimeSpan.FromSeconds(config.ShadowDirectoryWaitSeconds));
            p2p.AddRendezvous();
            if (config.Rendezvous.Server) p2p.AddRendezvousServer();
            // A private network's protector is the outermost layer, so it goes before any other protector.
            if (config.SwarmKey is { } swarmKey) p2p.AddPrivateNetwork(home.Resolve(swarmKey));
            p2p.AddTcpTransport();
            p2p.AddWebSocketTransport(ws =>
            {
                if (config.Wss is { } wss) ws.ServerCertificate = LoadCertificate(home, wss);
            });
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
            // --onion builds circuits, --onion-relay relays them; either also accepts connections over circuits (serving
            // them only identify and ping, the protocols that opt in to anonymous connections, and neural messages with
            // the sealing key they need: p2p message --via circuit; each message is signed by its writer anyway).
            // Padding on every connection (--padding all), or not required (--padding-required off): the padding module with
            // that policy; onion nodes add it below with the defaults otherwise.
            if (config.Padding == "all" || !config.PaddingRequired)
            {
                p2p.AddPadding(o =>
                {
                    o.OnOtherConnections = config.Padding == "all";
                    o.Required = config.PaddingRequired;
                });
            }
            if (config.Onion || config.OnionRelay)
            {
                p2p.Services.Configure<P2PStack.Host.HostOptions>(o =>
                {
                    o.AnonymousConnectionProtocols.Add(NeuralProtocol.ProtocolId);
                    o.AnonymousConnectionProtocols.Add(NeuralProtocol.SealingKeyProtocolId);
                });
                int before = p2p.Services.Count;
                p2p.AddOnion(o =>
                {
                    o.EnableClient = config.Onion;
                    o.Relay.Enabled = config.OnionRelay;
                    o.Client.Diversity.Enabled = config.OnionPathDiversity;
                    o.Directory.SparseRefreshInterval = TimeSpan.FromSeconds(config.OnionDirectorySparseRefreshSeconds);
                    // Without diversity every node may share one private block (a test network): let relays reach it.
                    o.Relay.AllowPrivateAddresses = !config.OnionPathDiversity;
                });
                onionHosted = [.. p2p.Services.Skip(before).Where(d => d.ServiceType == typeof(Microsoft.Extensions.Hosting.IHostedService))];
                foreach (var hosted in onionHosted) p2p.Services.Remove(hosted);
                // Circuit links (client to first relay, relay to next relay) are padded by default (paddingCircuitLinks),
                // and so are the connections to shadow addresses (p2p ping /shadow/..., p2p message shadow:...): every
                // onion node runs the padding module and serves the filter to dialers that ask for it.
                p2p.AddPadding();
                if (config.Onion) p2p.AddShadowConnections();
            }
            // Cell sizes, cover traffic and delays (config.json padding*, p2p init --padding-*), wherever the node pads.
            p2p.Services.Configure<P2PStack.Privacy.Padding.PaddingOptions>(config.ApplyPadding);
        });
        // Latency samples also go to a window, for status's min/mean/max.
        services.TryAddSingleton<LatencyWindow>();
        services.Replace(ServiceDescriptor.Singleton<IPeerStore>(sp =>
            new WindowedLatencyPeerStore(sp.GetRequiredService<SqlitePeerStore>(), sp.GetRequiredService<LatencyWindow>())));
        // End-to-end sealed messages by default at secure and strict (docs/specs/neural-seal.md).
        services.Configure<NeuralMeshOptions>(o =>
        {
            o.SealByDefault = config.SecurityLevel >= SecurityLevel.Secure;
            foreach (var (swarm, key) in config.SwarmKeys) o.SwarmKeys[swarm] = Convert.FromHexString(key);
        });
        services.AddSingleton(home);
        services.AddHostedService<PeerHostService>();
        foreach (var hosted in onionHosted) services.Add(hosted);
        // A shadow service (--shadow): its keys are restored, then its descriptors published, once the host runs.
        if (config.Shadow)
        {
            services.AddHostedService<ShadowKeyStore>();
            services.Configure<P2PStack.Privacy.ShadowAddresses.ShadowPoolOptions>(o => o.PoolSize = config.ShadowPoolSize);
            new P2PBuilder(services).AddShadowService(o =>
            {
                o.RequirePadding = config.ShadowRequirePadding;
                if (config.ShadowPublicationJitterSeconds is { } jitter) o.PublicationJitter = TimeSpan.FromSeconds(jitter);
            });
        }
        // After PeerHostService: the NAT services start once the host runs.
        NodeNat.AddNatTraversal(new P2PBuilder(services), config);
        services.AddSingleton(sp => new MeshManager(sp.GetRequiredService<P2PStack.Network.IPeerHost>(),
            sp.GetRequiredService<P2PStack.Protocols.Ping.PingService>(), home, sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<MeshManager>>()));
        services.AddHostedService(sp => sp.GetRequiredService<MeshManager>());
        services.AddNeuralCommandHandler<NodeCommandHandler>();
        services.TryAddSingleton<SwarmListeners>();
        // Discovery starts after the peer host (hosted services start in order), so what it finds can be dialed.
        if (config.MdnsEnabled) AddMdns(services, config);
        // Swarm presence (p2p swarm join/peers; the node also hosts peers without the DHT, such as browsers). Its
        // hosted service comes after the peer host's: it starts on a running host and announces departures (stops)
        // before the host stops.
        new P2PBuilder(services).AddSwarmSignaling();
        services.AddSingleton<INeuralNextHops, SignalingNextHops>(); // direct messages to browser peers via their host
        services.AddSingleton(config.Rendezvous);
        if (config.Rendezvous.Namespaces.Count > 0 && config.Rendezvous.Points.Count > 0) services.AddHostedService<RendezvousRegistrar>();
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
        services.AddOptions<DiscoveredPeerDialerOptions>().Configure(o => o.Sources.Add(P2PStack.Discovery.Mdns.MdnsDiscovery.Source));
        services.AddHostedService<DiscoveredPeerDialer>();
    }

    /// <summary>The /wss listen certificate from PEM files (<c>p2p init --wss-certificate/--wss-key</c>).</summary>
    private static System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate(NodeHome home, WssConfig wss)
    {
        try
        {
            return System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(home.Resolve(wss.Certificate), home.Resolve(wss.Key));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new SynapticMesh.Cli.CliException($"cannot load the wss certificate ({wss.Certificate}, {wss.Key}): {e.Message}", inner: e);
        }
    }

    private static string LoopbackInterfaceName() =>
        NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(i => i.NetworkInterfaceType == NetworkInterfaceType.Loopback)?.Name ?? "lo";
}
