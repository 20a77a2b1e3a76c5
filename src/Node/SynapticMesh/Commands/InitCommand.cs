using System.CommandLine;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p init</c>: creates the identity key file and config.json in the home directory. On a home whose key is not
/// encrypted (as <c>p2p start</c> creates it without a passphrase) it encrypts that key instead, keeping the peer id.
/// </summary>
public static class InitCommand
{
    public sealed record EncryptResult(string PeerId, string Home, string IdentityFile, bool Encrypted);

    public sealed record InitResult(string PeerId, string Home, string IdentityFile, bool Encrypted, string ConfigFile, NodeConfig Config)
    {
        /// <summary>The first shadow address (<c>--shadow</c>), or null.</summary>
        public string? ShadowAddress { get; init; }
    }

    public static Command Create(CommandContextFactory contexts)
    {
        var listen = new Option<string[]>("--listen") { Description = "Listen multiaddr (repeatable; default /ip4/0.0.0.0/tcp/9000 and /ip4/0.0.0.0/tcp/9001/ws)" };
        var bootstrap = new Option<string[]>("--bootstrap") { Description = "Bootstrap peer multiaddr, dialed at start (repeatable)" };
        var maxPeers = new Option<int>("--max-peers") { Description = "Most peers kept connected", DefaultValueFactory = _ => NodeConfig.DefaultMaxPeers };
        var noPassphrase = new Option<bool>("--no-passphrase") { Description = "Store the identity key unencrypted" };
        var dhtProtocol = new Option<string>("--dht-protocol")
        {
            Description = $"Kademlia protocol id: {NodeConfig.DefaultDhtProtocol} (the mesh's own DHT) or /ipfs/kad/1.0.0 (js-libp2p and IPFS DHTs)",
            DefaultValueFactory = _ => NodeConfig.DefaultDhtProtocol,
            HelpName = "id",
        }.Check(NodeConfig.IsProtocolId, "--dht-protocol must be a protocol id such as /ipfs/kad/1.0.0");
        var mdns = new Option<string>("--mdns")
        {
            Description = "mDNS discovery on the local network: on, off, or auto (on when listening on a non-loopback interface)",
            DefaultValueFactory = _ => "auto",
        };
        mdns.AcceptOnlyFromAmong("on", "off", "auto");
        var mdnsService = new Option<string>("--mdns-service")
        {
            Description = "mDNS service name; _p2p-NAME._udp.local keeps a private group of nodes apart",
            DefaultValueFactory = _ => MdnsConfig.DefaultServiceName,
            HelpName = "name",
        };
        var security = SecurityCommand.LevelOption("--security");
        security.Description += " (default secure)";
        var swarmKey = new Option<string?>("--swarm-key") { Description = "Join the private network of this swarm key file (copied into the home)" };
        var channels = new Option<string?>("--secure-channels") { Description = "Secure channels offered, in preference order: noise,tls (default), tls,noise, noise or tls" };
        var lan = new Option<bool>("--lan-discovery") { Description = "Announce and discover peers on the LAN with signed announcements" };
        var rendezvousServer = new Option<bool>("--rendezvous-server") { Description = "Serve /rendezvous/1.0.0: other peers register and discover here" };
        var rendezvousPoints = new Option<string[]>("--rendezvous") { Description = "Rendezvous point multiaddr ending in /p2p/ID, asked by discover --method rendezvous (repeatable)", HelpName = "address" };
        var rendezvousNamespaces = new Option<string[]>("--rendezvous-namespace") { Description = "Register under this namespace at every rendezvous point while running (repeatable)", HelpName = "ns" };
        var wssCertificate = new Option<string?>("--wss-certificate") { Description = "PEM certificate for /wss listen addresses (with --wss-key)", HelpName = "path" };
        var wssKey = new Option<string?>("--wss-key") { Description = "PEM private key of the --wss-certificate", HelpName = "path" };
        var onion = new Option<bool>("--onion") { Description = "Build onion circuits (p2p circuit)" };
        var onionRelay = new Option<bool>("--onion-relay") { Description = "Relay onion circuits for other nodes and publish a relay descriptor" };
        var onionDiversity = new Option<string>("--onion-path-diversity")
        {
            Description = "on (default) or off: off lets a circuit use relays in one /16 (a private or test network only)",
            DefaultValueFactory = _ => "on",
        };
        onionDiversity.AcceptOnlyFromAmong("on", "off");
        var onionSparseRefresh = new Option<int>("--onion-directory-sparse-refresh-seconds")
        {
            Description = "Seconds between onion directory refreshes while it lists fewer relays than a path needs (1..3600; default 10)",
            DefaultValueFactory = _ => new NodeConfig().OnionDirectorySparseRefreshSeconds,
        };
        var padding = new Option<string>("--padding")
        {
            Description = "Traffic padding: default (circuit links and shadow connections) or all (every connection this node dials; see --padding-required)",
            DefaultValueFactory = _ => "default",
        };
        padding.AcceptOnlyFromAmong("default", "all");
        var paddingRequired = new Option<string>("--padding-required")
        {
            Description = "on (default): peers without padding are refused where padding applies (with --padding all: both ways); off: reached without it",
            DefaultValueFactory = _ => "on",
        };
        paddingRequired.AcceptOnlyFromAmong("on", "off");
        var paddingCircuitLinks = new Option<string>("--padding-circuit-links")
        {
            Description = "on (default): the connections that carry onion circuit links are padded; off: they are not (nor do circuits carry cover cells)",
            DefaultValueFactory = _ => "on",
        };
        paddingCircuitLinks.AcceptOnlyFromAmong("on", "off");
        var paddingCellSizes = new Option<string>("--padding-cell-sizes")
        {
            Description = "Padding cell sizes in bytes, ascending, comma-separated (64..16384, at most 8; default 1024,16384): one size hides every message size up to it",
        };
        var paddingCover = new Option<string>("--padding-cover")
        {
            Description = "Cover cells on idle padded connections and circuits: none (default), constant or poisson",
            DefaultValueFactory = _ => "none",
        };
        paddingCover.AcceptOnlyFromAmong("none", "constant", "poisson");
        var paddingCoverRate = new Option<double>("--padding-cover-rate")
        {
            Description = "Mean cover cells per second (0 < rate <= 1000; default 2)",
            DefaultValueFactory = _ => 2,
        };
        var paddingCoverBudget = new Option<int>("--padding-cover-budget")
        {
            Description = "Cap on cover bytes per second per connection or circuit (default 32768)",
            DefaultValueFactory = _ => 32 * 1024,
        };
        var paddingCoverMaxLag = new Option<int>("--padding-cover-max-lag-ms")
        {
            Description = "How overdue a cover cell may be and still be sent, ms (0..10000; default 200): a longer stall is skipped, not made up in a burst",
            DefaultValueFactory = _ => (int)P2PStack.Privacy.Padding.PaddingOptions.DefaultCoverMaxLag.TotalMilliseconds,
        };
        var paddingHelloTimeout = new Option<int>("--padding-hello-timeout-ms")
        {
            Description = "How long a padded connection waits for the peer's padding hello (also the drain time on close), ms (100..60000; default 10000)",
            DefaultValueFactory = _ => new NodeConfig().PaddingHelloTimeoutMs,
        };
        var paddingJitter = new Option<int>("--padding-jitter-ms")
        {
            Description = "Upper bound of the random delay before each burst of padded writes, ms (0..10000; default 0)",
        };
        var paddingBatch = new Option<int>("--padding-batch-ms")
        {
            Description = "How long a burst of padded writes waits for more data to leave with it, ms (0..10000; default 0)",
        };
        var shadow = new Option<bool>("--shadow") { Description = "Run a shadow service: a pool of shadow addresses with descriptors in the DHT (implies --onion; creates the first address)" };
        var shadowRequirePadding = new Option<bool>("--shadow-require-padding")
        {
            Description = "With --shadow: refuse clients of the shadow service that do not pad their connection",
        };
        var shadowJitter = new Option<int?>("--shadow-publication-jitter")
        {
            Description = "With --shadow: most random delay before each descriptor publication, seconds (0..1200; default 300; 0: none)",
        };
        var shadowPoolSize = new Option<int>("--shadow-pool-size")
        {
            Description = $"With --shadow: shadow addresses the node keeps live, each with its own introduction circuits and publications (1..{NodeConfig.MaxShadowPoolSize}; default {NodeConfig.DefaultShadowPoolSize})",
            DefaultValueFactory = _ => NodeConfig.DefaultShadowPoolSize,
        };
        var shadowDirectoryWait = new Option<int>("--shadow-directory-wait-seconds")
        {
            Description = "How long a shadow publication or resolution over circuits waits for the onion directory to list enough relays (0..3600; default 30)",
            DefaultValueFactory = _ => 30,
        };
        var nat = new Option<string>("--nat") { Description = "NAT traversal: auto (AutoNAT, port mapping, hole punching, relays when private) or off", DefaultValueFactory = _ => "auto" };
        nat.AcceptOnlyFromAmong("auto", "off");
        var relays = new Option<string[]>("--relay") { Description = "Relay multiaddr with /p2p to hold a reservation on (repeatable)" };
        var relayService = new Option<bool>("--relay-service") { Description = "Serve as a circuit relay v2 for other peers (limits in config.json relayService)" };
        var relayLimitGrace = new Option<int>("--relay-limit-grace-seconds")
        {
            Description = "Seconds a relayed connection may outlive its relay's announced duration before our side cuts it (0..300; default 5)",
            DefaultValueFactory = _ => new NodeConfig().RelayLimitGraceSeconds,
        };
        var stunServers = new Option<string[]>("--stun-server") { Description = "STUN server host:port for p2p nat --method stun (repeatable)" };
        var command = new Command("init", "Create the node identity (encrypted key file) and config")
        {
            listen, bootstrap, maxPeers, noPassphrase, security, swarmKey, channels, lan, dhtProtocol, mdns, mdnsService,
            rendezvousServer, rendezvousPoints, rendezvousNamespaces, wssCertificate, wssKey, nat, relays, relayService, stunServers,
        };
        command.Options.Add(onion);
        command.Options.Add(onionRelay);
        command.Options.Add(onionDiversity);
        command.Options.Add(onionSparseRefresh);
        command.Options.Add(shadow);
        command.Options.Add(padding);
        command.Options.Add(paddingRequired);
        command.Options.Add(paddingCircuitLinks);
        command.Options.Add(shadowRequirePadding);
        command.Options.Add(shadowJitter);
        command.Options.Add(shadowDirectoryWait);
        command.Options.Add(shadowPoolSize);
        command.Options.Add(paddingCellSizes);
        command.Options.Add(paddingCover);
        command.Options.Add(paddingCoverRate);
        command.Options.Add(paddingCoverBudget);
        command.Options.Add(paddingCoverMaxLag);
        command.Options.Add(paddingHelloTimeout);
        command.Options.Add(paddingJitter);
        command.Options.Add(relayLimitGrace);
        command.Options.Add(paddingBatch);
        command.SetAction(parse =>
        {
            var context = contexts.Create(parse);
            var config = new NodeConfig
            {
                Listen = parse.GetValue(listen) is { Length: > 0 } l ? [.. l] : [.. NodeConfig.DefaultListen],
                Bootstrap = [.. parse.GetValue(bootstrap) ?? []],
                MaxPeers = parse.GetValue(maxPeers),
                DhtProtocol = parse.GetValue(dhtProtocol)!,
                Mdns = new MdnsConfig
                {
                    Enabled = parse.GetValue(mdns) switch { "on" => true, "off" => false, _ => null },
                    ServiceName = parse.GetValue(mdnsService)!,
                },
                Security = parse.GetValue(security)?.Trim().ToLowerInvariant() ?? "secure",
                SecureChannels = parse.GetValue(channels) is { } list
                    ? [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => c.ToLowerInvariant())]
                    : ["noise", "tls"],
                LanDiscovery = parse.GetValue(lan),
                Wss = (parse.GetValue(wssCertificate), parse.GetValue(wssKey)) switch
                {
                    (null, null) => null,
                    ({ } certPath, { } keyPath) => new WssConfig(Path.GetFullPath(certPath), Path.GetFullPath(keyPath)),
                    _ => throw CliException.Usage("--wss-certificate and --wss-key go together"),
                },
                Rendezvous = new RendezvousConfig
                {
                    Server = parse.GetValue(rendezvousServer),
                    Points = [.. parse.GetValue(rendezvousPoints) ?? []],
                    Namespaces = [.. parse.GetValue(rendezvousNamespaces) ?? []],
                },
                Onion = parse.GetValue(onion) || parse.GetValue(shadow),
                Shadow = parse.GetValue(shadow),
                ShadowRequirePadding = parse.GetValue(shadowRequirePadding),
                ShadowPublicationJitterSeconds = parse.GetValue(shadowJitter) is { } jitter
                    ? jitter is >= 0 and <= 1200 ? jitter : throw CliException.Usage("--shadow-publication-jitter: 0..1200 seconds")
                    : null,
                ShadowDirectoryWaitSeconds = parse.GetValue(shadowDirectoryWait),
                ShadowPoolSize = parse.GetValue(shadowPoolSize) is var size and >= 1 and <= NodeConfig.MaxShadowPoolSize ? size
                    : throw CliException.Usage($"--shadow-pool-size: 1..{NodeConfig.MaxShadowPoolSize} addresses"),
                OnionRelay = parse.GetValue(onionRelay),
                OnionPathDiversity = parse.GetValue(onionDiversity) != "off",
                OnionDirectorySparseRefreshSeconds = parse.GetValue(onionSparseRefresh),
                Padding = parse.GetValue(padding) ?? "default",
                PaddingRequired = parse.GetValue(paddingRequired) != "off",
                PaddingCircuitLinks = parse.GetValue(paddingCircuitLinks) != "off",
                PaddingCellSizes = parse.GetValue(paddingCellSizes) is { } sizes ? ParseCellSizes(sizes) : null,
                PaddingCover = parse.GetValue(paddingCover) ?? "none",
                PaddingCoverRate = parse.GetValue(paddingCoverRate),
                PaddingCoverBudget = parse.GetValue(paddingCoverBudget),
                PaddingCoverMaxLagMs = parse.GetValue(paddingCoverMaxLag),
                PaddingHelloTimeoutMs = parse.GetValue(paddingHelloTimeout),
                PaddingJitterMs = parse.GetValue(paddingJitter),
                PaddingBatchMs = parse.GetValue(paddingBatch),
                Nat = parse.GetValue(nat) ?? "auto",
                Relays = [.. parse.GetValue(relays) ?? []],
                RelayService = parse.GetValue(relayService) ? new RelayServiceConfig() : null,
                StunServers = [.. parse.GetValue(stunServers) ?? []],
                RelayLimitGraceSeconds = parse.GetValue(relayLimitGrace),
            }.Validate();
            var home = context.NodeHome;
            if (home.HasIdentity)
            {
                // The one thing init does to an existing home: encrypt a key that start wrote unencrypted.
                if (parse.GetValue(noPassphrase) || IdentityFile.IsEncrypted(home))
                    throw new CliException($"{home.Directory} is already initialised ({home.IdentityPath} exists)");
                var encrypted = IdentityFile.Encrypt(home, Passphrase.ForNewKey(context.Output));
                var done = new EncryptResult(encrypted.ToString(), home.Directory, home.IdentityPath, true);
                context.Output.Result(done, text => text.WriteLine($"Encrypted the identity key {done.IdentityFile} (peer id {done.PeerId} unchanged)"));
                return ExitCodes.Success;
            }
            P2PStack.Security.Pnet.SwarmKey? key = null;
            if (parse.GetValue(swarmKey) is { } keyFile)
            {
                try
                {
                    key = P2PStack.Security.Pnet.SwarmKey.Load(Path.GetFullPath(keyFile));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or P2PStack.P2PFormatException)
                {
                    throw new CliException($"cannot use the swarm key: {e.Message}", ExitCodes.Usage, e);
                }
                config = config with { SwarmKey = Path.GetFileName(home.SwarmKeyPath) };
            }
            string? passphrase = parse.GetValue(noPassphrase) ? null : Passphrase.ForNewKey(context.Output);
            if (key is not null)
            {
                home.EnsureExists();
                key.Save(home.SwarmKeyPath);
            }
            var result = Initialise(home, config, passphrase);
            if (config.Shadow)
            {
                var first = P2PStack.Privacy.ShadowAddresses.ShadowKey.Generate();
                var now = DateTimeOffset.UtcNow;
                // The others of the pool (shadowPoolSize) are added when the node starts, with staggered lifetimes.
                ShadowKeyFile.Save(home, [(first, now, 0L, (DateTimeOffset?)null, now + new P2PStack.Privacy.ShadowAddresses.ShadowPoolOptions().Lifetime)]);
                result = result with { ShadowAddress = first.Address.ToUri() };
            }
            context.Output.Result(result, text => Print(text, result));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Writes the key file and the config (used by <c>init</c>, and by <c>start</c> on a fresh home).</summary>
    /// <param name="keepConfig">Leave an existing config.json as it is.</param>
    public static InitResult Initialise(NodeHome home, NodeConfig config, string? passphrase, bool keepConfig = false)
    {
        home.EnsureExists();
        var peerId = IdentityFile.Create(home, passphrase);
        if (!keepConfig) config.Save(home);
        return new InitResult(peerId.ToString(), home.Directory, home.IdentityPath, passphrase is not null, home.ConfigPath, config);
    }

    // "512,1024,16384" -> [512, 1024, 16384]; the ranges are checked with the rest of the config.
    private static List<int> ParseCellSizes(string text)
    {
        var sizes = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int size))
                throw CliException.Usage($"--padding-cell-sizes: '{part}' is not a size in bytes");
            sizes.Add(size);
        }
        return sizes;
    }

    public static void Print(TextWriter text, InitResult result)
    {
        text.WriteLine($"Initialised {result.Home}");
        text.WriteLine($"  peer id:  {result.PeerId}");
        text.WriteLine($"  identity: {result.IdentityFile} ({(result.Encrypted ? "encrypted" : "NOT encrypted")})");
        text.WriteLine($"  config:   {result.ConfigFile}");
        foreach (var address in result.Config.Listen) text.WriteLine($"  listen:   {address}");
        foreach (var address in result.Config.Bootstrap) text.WriteLine($"  bootstrap: {address}");
        text.WriteLine($"  dht:      {result.Config.DhtProtocol}");
        text.WriteLine($"  mdns:     {(result.Config.MdnsEnabled ? "on" : "off")}{(result.Config.Mdns.Enabled is null ? " (auto)" : "")}, service {result.Config.Mdns.ServiceName}");
        text.WriteLine($"  security: {result.Config.Security}");
        if (result.Config.Rendezvous.Server) text.WriteLine("  rendezvous: serving /rendezvous/1.0.0");
        foreach (var point in result.Config.Rendezvous.Points) text.WriteLine($"  rendezvous point: {point}");
        foreach (var ns in result.Config.Rendezvous.Namespaces) text.WriteLine($"  rendezvous namespace: {ns}");
        if (result.Config.Onion || result.Config.OnionRelay)
            text.WriteLine($"  onion:    client {(result.Config.Onion ? "on" : "off")}, relay {(result.Config.OnionRelay ? "on" : "off")}, path diversity {(result.Config.OnionPathDiversity ? "on" : "off")}");
        if (result.Config.Padding == "all" || !result.Config.PaddingRequired)
            text.WriteLine($"  padding:  {result.Config.Padding}, {(result.Config.PaddingRequired ? "required" : "not required")}");
        if (!result.Config.PaddingCircuitLinks) text.WriteLine("  padding circuit links: off");
        if (result.Config.PaddingCellSizes is { } sizes) text.WriteLine($"  padding cells: {string.Join(", ", sizes)} bytes");
        if (result.Config.PaddingCover != "none")
            text.WriteLine($"  padding cover: {result.Config.PaddingCover}, {result.Config.PaddingCoverRate} cells/s, at most {result.Config.PaddingCoverBudget} B/s");
        if (result.Config.PaddingJitterMs > 0 || result.Config.PaddingBatchMs > 0)
            text.WriteLine($"  padding delay: jitter up to {result.Config.PaddingJitterMs} ms, batching {result.Config.PaddingBatchMs} ms");
        if (result.ShadowAddress is { } shadowAddress) text.WriteLine($"  shadow:   {shadowAddress} (published while the node runs)");
        text.WriteLine($"  nat:      {result.Config.Nat}{(result.Config.RelayService is null ? "" : ", relay service")}");
        foreach (var address in result.Config.Relays) text.WriteLine($"  relay:    {address}");
        if (result.Config.SwarmKey is { } swarmKey) text.WriteLine($"  private network key: {Path.Combine(result.Home, swarmKey)}");
    }
}
