using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2PStack.Addressing;
using P2PStack.IO;
using SynapticMesh.Cli;

namespace SynapticMesh.Home;

/// <summary>home/config.json: what <c>p2p init</c> chose and <c>p2p start</c> runs with.</summary>
public sealed record NodeConfig
{
    public static readonly IReadOnlyList<string> DefaultListen = ["/ip4/0.0.0.0/tcp/9000", "/ip4/0.0.0.0/tcp/9001/ws"];

    public const int DefaultMaxPeers = 64;

    /// <summary>The mesh's own DHT; <c>/ipfs/kad/1.0.0</c> joins js-libp2p and IPFS-style DHTs instead.</summary>
    public const string DefaultDhtProtocol = "/synaptic/kad/1.0.0";

    /// <summary>Largest config file read.</summary>
    public const int MaxFileSize = 1024 * 1024;

    public List<string> Listen { get; init; } = [.. DefaultListen];

    public List<string> Bootstrap { get; init; } = [];

    public int MaxPeers { get; init; } = DefaultMaxPeers;

    /// <summary>Memory (MiB) the resource manager's limits scale with; null: an eighth of the machine's (docs/cli.md).</summary>
    public long? ResourceMemoryMiB { get; init; }

    /// <summary>Protocol id the Kademlia DHT speaks and serves.</summary>
    public string DhtProtocol { get; init; } = DefaultDhtProtocol;

    public MdnsConfig Mdns { get; init; } = new();

    /// <summary>TLS certificate for <c>/wss</c> listen addresses (pages served over https can dial only wss), or null.</summary>
    public WssConfig? Wss { get; init; }

    /// <summary>Rendezvous (<c>/rendezvous/1.0.0</c>): serve as a point, and the points this node registers at and asks.</summary>
    public RendezvousConfig Rendezvous { get; init; } = new();

    /// <summary>Security level: development, signed, secure (default) or strict (docs/architecture.md, trust).</summary>
    public string Security { get; init; } = "secure";

    /// <summary>At the secure level: trust each new peer on first use and refuse another key later under its name.</summary>
    public bool AutoTrustFirst { get; init; }

    /// <summary>The private network's swarm key file (relative to the home directory), or null for the public network.</summary>
    public string? SwarmKey { get; init; }

    /// <summary>Secure channels offered, in preference order: "noise" (the hybrid post-quantum suites, then /noise)
    /// and "tls" (/tls/1.0.0).</summary>
    public List<string> SecureChannels { get; init; } = ["noise", "tls"];

    /// <summary>Announce and discover peers on the LAN with signed announcements (docs/specs/lan-announce.md).</summary>
    public bool LanDiscovery { get; init; }

    /// <summary>Keys shared by the members of swarms (swarm name -> 64 hex digits): swarm messages are sealed with them.</summary>
    public Dictionary<string, string> SwarmKeys { get; init; } = [];

    /// <summary>Build onion circuits (<c>p2p circuit</c>; docs/specs/onion.md).</summary>
    public bool Onion { get; init; }

    /// <summary>Relay other nodes' onion circuits and publish a relay descriptor in the DHT.</summary>
    public bool OnionRelay { get; init; }

    /// <summary>With <see cref="OnionRelay"/>: run the relay as one event loop per socket thread (<c>p2p start</c> asks the
    /// runtime for inline socket completions before the node's first socket, and the circuits' loops run on the muxer's
    /// read loops; docs/benchmarks.md, onion eleventh and thirteenth passes). Null: <see cref="DefaultOnionRelayEventLoop"/>.
    /// It applies to every socket of the process.</summary>
    public bool? OnionRelayEventLoop { get; init; }

    /// <summary>Default of <see cref="OnionRelayEventLoop"/> (the onion-loopback benchmark's relays follow it too).</summary>
    public const bool DefaultOnionRelayEventLoop = false;

    /// <summary>With the relay's event loop: how many socket event threads the runtime runs (0: its own choice, one per
    /// core). One by default: a relay's two links of a circuit then complete on the same thread, so the SENDMEs coming
    /// back are read between the forward batches instead of waking a second thread that writes into the same
    /// connections (docs/benchmarks.md, onion eighteenth pass: less CPU per relayed MiB, fewer context switches). The
    /// environment's <c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT</c>, when set, wins.</summary>
    public int OnionRelayEventThreads { get; init; } = DefaultOnionRelayEventThreads;

    /// <summary>Default of <see cref="OnionRelayEventThreads"/> (the onion-loopback benchmark's relays follow it too).</summary>
    public const int DefaultOnionRelayEventThreads = 1;

    /// <summary>Run a shadow service (<c>p2p init --shadow</c>, docs/specs/shadow.md): keep a pool of shadow addresses in
    /// home/shadow-keys.json and publish their descriptors; needs <see cref="Onion"/> (introduction points are onion relays).</summary>
    public bool Shadow { get; init; }

    /// <summary>With <see cref="Shadow"/>: refuse introduced connections whose client does not pad (docs/specs/shadow.md 7.3).</summary>
    public bool ShadowRequirePadding { get; init; }

    /// <summary>With <see cref="Shadow"/>: most random delay before each descriptor publication, seconds
    /// (docs/specs/shadow.md 5; null: the default, 5 min; 0: none).</summary>
    public int? ShadowPublicationJitterSeconds { get; init; }

    /// <summary>Default of <see cref="ShadowPoolSize"/>.</summary>
    public const int DefaultShadowPoolSize = 10;

    /// <summary>Most <see cref="ShadowPoolSize"/>: the pool's hard cap (<c>ShadowPoolOptions.MaxAddresses</c>).</summary>
    public const int MaxShadowPoolSize = 100;

    /// <summary>With <see cref="Shadow"/>: shadow addresses the node keeps live (docs/specs/shadow.md 6; 1..100, default
    /// 10): fresh ones replace revoked ones, with staggered lifetimes. Each costs its introduction circuits and publications.</summary>
    public int ShadowPoolSize { get; init; } = DefaultShadowPoolSize;

    /// <summary>Seconds a shadow publication or resolution over circuits waits for the onion directory to list enough
    /// relays for a circuit (a node that just started learns them from the DHT) before it fails (0..3600; default 30).</summary>
    public int ShadowDirectoryWaitSeconds { get; init; } = 30;

    /// <summary>Path diversity for circuits (no two relays in one /16 or /32); off only for a private or test network
    /// where every node shares an address block.</summary>
    public bool OnionPathDiversity { get; init; } = true;

    /// <summary>Seconds between the onion directory's refreshes while it lists fewer relays than a path needs (a node
    /// that just started; 1..3600, default 10); the normal refresh interval (10 min) bounds it from above.</summary>
    public int OnionDirectorySparseRefreshSeconds { get; init; } = (int)new P2PStack.Privacy.Onion.OnionDirectoryOptions().SparseRefreshInterval.TotalSeconds;

    /// <summary>
    /// Traffic padding (docs/specs/padding.md): "default" pads what the padding policy pads by default (circuit links and
    /// shadow connections, on nodes with onion circuits); "all" pads every connection this node dials and, with
    /// <see cref="PaddingRequired"/>, refuses peers without padding both ways.
    /// </summary>
    public string Padding { get; init; } = "default";

    /// <summary>Whether a padded connection to a peer without padding is refused (true) or made without it (false).</summary>
    public bool PaddingRequired { get; init; } = true;

    /// <summary>Pad the connections that carry onion circuit links (client to first relay, relay to next relay; on by
    /// default, docs/specs/padding.md): off leaves them unpadded (and without cover cells on circuits).</summary>
    public bool PaddingCircuitLinks { get; init; } = true;

    /// <summary>
    /// Padding cell sizes in bytes, header included: strictly ascending, 64..16384, 1 to 8 of them (docs/specs/padding.md);
    /// null: the module's default (1024, 16384). Writes that fall in one size look alike on the wire, so one size hides
    /// every message size up to it (at the cost of padding small ones to it).
    /// </summary>
    public List<int>? PaddingCellSizes { get; init; }

    /// <summary>Cover cells on idle padded connections and on circuits: "none" (default), "constant" or "poisson".</summary>
    public string PaddingCover { get; init; } = "none";

    /// <summary>Mean cover cells per second (0 &lt; rate &lt;= 1000).</summary>
    public double PaddingCoverRate { get; init; } = 2;

    /// <summary>Cap on cover bytes per second per connection or circuit (at least 1).</summary>
    public int PaddingCoverBudget { get; init; } = 32 * 1024;

    /// <summary>How overdue a cover cell may be and still be sent, in milliseconds (0..10000; default 200): a longer stall
    /// is skipped rather than made up in a burst (docs/specs/padding.md).</summary>
    public int PaddingCoverMaxLagMs { get; init; } = (int)P2PStack.Privacy.Padding.PaddingOptions.DefaultCoverMaxLag.TotalMilliseconds;

    /// <summary>How long a padded connection waits for the peer's padding hello (and drains on close), in milliseconds
    /// (100..60000; default 10000): a peer that says nothing within it fails the connection (docs/specs/padding.md).</summary>
    public int PaddingHelloTimeoutMs { get; init; } = (int)new P2PStack.Privacy.Padding.PaddingOptions().HelloTimeout.TotalMilliseconds;

    /// <summary>Upper bound of the random delay before each burst of padded writes, in milliseconds (0..10000; 0: none).</summary>
    public int PaddingJitterMs { get; init; }

    /// <summary>How long a burst waits for more data to leave with it, in milliseconds (0..10000; 0: none).</summary>
    public int PaddingBatchMs { get; init; }

    /// <summary>Applies the padding settings to the module's options (where the node pads at all: see <see cref="Padding"/>).</summary>
    public void ApplyPadding(P2PStack.Privacy.Padding.PaddingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (PaddingCellSizes is { Count: > 0 } sizes)
        {
            options.CellSizes.Clear();
            options.CellSizes.AddRange(sizes);
        }
        options.Cover = PaddingCover switch
        {
            "constant" => P2PStack.Privacy.Padding.CoverTraffic.Constant,
            "poisson" => P2PStack.Privacy.Padding.CoverTraffic.Poisson,
            _ => P2PStack.Privacy.Padding.CoverTraffic.None,
        };
        options.OnCircuitLinks = PaddingCircuitLinks;
        options.CoverRate = PaddingCoverRate;
        options.CoverBudgetBytesPerSecond = PaddingCoverBudget;
        options.CoverMaxLag = TimeSpan.FromMilliseconds(PaddingCoverMaxLagMs);
        options.HelloTimeout = TimeSpan.FromMilliseconds(PaddingHelloTimeoutMs);
        options.MaxJitter = TimeSpan.FromMilliseconds(PaddingJitterMs);
        options.BatchDelay = TimeSpan.FromMilliseconds(PaddingBatchMs);
    }

    private void ValidatePadding()
    {
        if (PaddingCellSizes is not null)
        {
            try
            {
                P2PStack.Privacy.Padding.PaddingWire.ValidateSizes([.. PaddingCellSizes]);
            }
            catch (ArgumentException e)
            {
                throw CliException.Usage($"paddingCellSizes: {e.Message.Split(" (Parameter", 2)[0]}");
            }
        }
        if (PaddingCover is not ("none" or "constant" or "poisson"))
            throw CliException.Usage($"paddingCover must be \"none\", \"constant\" or \"poisson\", got '{PaddingCover}'");
        if (!(PaddingCoverRate > 0 && PaddingCoverRate <= 1000))
            throw CliException.Usage($"paddingCoverRate must be above 0 and at most 1000 cells/s, got {PaddingCoverRate}");
        if (PaddingCoverBudget < 1) throw CliException.Usage($"paddingCoverBudget must be at least 1 byte/s, got {PaddingCoverBudget}");
        if (PaddingCoverMaxLagMs is < 0 or > 10_000) throw CliException.Usage($"paddingCoverMaxLagMs must be 0..10000, got {PaddingCoverMaxLagMs}");
        if (PaddingHelloTimeoutMs is < 100 or > 60_000) throw CliException.Usage($"paddingHelloTimeoutMs must be 100..60000, got {PaddingHelloTimeoutMs}");
        if (PaddingJitterMs is < 0 or > 10_000) throw CliException.Usage($"paddingJitterMs must be 0..10000, got {PaddingJitterMs}");
        if (PaddingBatchMs is < 0 or > 10_000) throw CliException.Usage($"paddingBatchMs must be 0..10000, got {PaddingBatchMs}");
    }

    /// <summary>Peers trusted by configuration (trust method "config"), entered into the trust store at start.</summary>
    public List<TrustedPeerConfig> Trusted { get; init; } = [];

    /// <summary>NAT traversal: "auto" (AutoNAT, port mapping, DCUtR hole punching, relays when private) or "off".</summary>
    public string Nat { get; init; } = "auto";

    /// <summary>Relays to hold a reservation on whatever the reachability (multiaddrs with /p2p), <c>--relay</c>.</summary>
    public List<string> Relays { get; init; } = [];

    /// <summary>Serve as a circuit relay v2 hop for other peers, with these limits (<c>--relay-service</c>); null: not a relay.</summary>
    public RelayServiceConfig? RelayService { get; init; }

    /// <summary>Seconds our side lets a relayed connection outlive the duration its relay announced before cutting it
    /// (a relay that does not hold its own limit; 0..300, default 5): the grace lets an honest relay's reset arrive first.</summary>
    public int RelayLimitGraceSeconds { get; init; } = (int)new P2PStack.Nat.Relay.RelayClientOptions().LimitGrace.TotalSeconds;

    /// <summary>STUN servers ("host:port") for <c>p2p nat --method stun</c>.</summary>
    public List<string> StunServers { get; init; } = [];

    /// <summary>Treat private and loopback addresses as reachable in NAT traversal (AutoNAT dial-backs, relay
    /// addresses, hole punching): for a LAN or a lab, never on the internet.</summary>
    public bool NatPrivateAddresses { get; init; }

    [JsonIgnore]
    public bool NatAuto => Nat == "auto";

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> RelayAddresses => [.. Relays.Select(a => ParseAddress(a, "relay"))];

    [JsonIgnore]
    public P2PStack.Trust.SecurityLevel SecurityLevel
    {
        get
        {
            try
            {
                return P2PStack.Trust.SecurityLevels.Parse(Security ?? "");
            }
            catch (FormatException e)
            {
                throw new CliException(e.Message, ExitCodes.Usage, e);
            }
        }
    }

    /// <summary>DAG consensus: the instance and its voters.</summary>
    public DagConfig Dag { get; init; } = new();

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> ListenAddresses => [.. Listen.Select(a => ParseAddress(a, "listen"))];

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> BootstrapAddresses => [.. Bootstrap.Select(a => ParseAddress(a, "bootstrap"))];

    /// <summary>Whether the node runs mDNS: as configured, else when it listens on a non-loopback interface.</summary>
    [JsonIgnore]
    public bool MdnsEnabled => Mdns.Enabled ?? ListenAddresses.Any(a => a.GetIPAddress() is not { } ip || !IPAddress.IsLoopback(ip));

    /// <summary>Checks every field; the message says which one is wrong.</summary>
    public NodeConfig Validate()
    {
        if (Listen is null || Bootstrap is null) throw CliException.Usage("the config needs 'listen' and 'bootstrap' lists");
        if (Listen.Count == 0) throw CliException.Usage("the config has no listen address");
        _ = ListenAddresses;
        _ = BootstrapAddresses;
        if (MaxPeers < 1) throw CliException.Usage($"max peers must be at least 1, got {MaxPeers}");
        if (Shadow && !Onion) throw CliException.Usage("a shadow service needs onion circuits: \"onion\": true with \"shadow\": true in config.json");
        if (ShadowPublicationJitterSeconds is < 0 or > 1200)
            throw CliException.Usage($"shadowPublicationJitterSeconds must be 0..1200, got {ShadowPublicationJitterSeconds}");
        if (ShadowPoolSize is < 1 or > MaxShadowPoolSize)
            throw CliException.Usage($"shadowPoolSize must be 1..{MaxShadowPoolSize}, got {ShadowPoolSize}");
        if (ShadowDirectoryWaitSeconds is < 0 or > 3600)
            throw CliException.Usage($"shadowDirectoryWaitSeconds must be 0..3600, got {ShadowDirectoryWaitSeconds}");
        if (OnionRelayEventThreads is < 0 or > 1024)
            throw CliException.Usage($"onionRelayEventThreads must be 0..1024 (0: one per core), got {OnionRelayEventThreads}");
        if (OnionDirectorySparseRefreshSeconds is < 1 or > 3600)
            throw CliException.Usage($"onionDirectorySparseRefreshSeconds must be 1..3600, got {OnionDirectorySparseRefreshSeconds}");
        if (ResourceMemoryMiB is < 16 or > 1L << 30)
            throw CliException.Usage($"resourceMemoryMiB must be from 16 to {1L << 30} (MiB), got {ResourceMemoryMiB}");
        if (!IsProtocolId(DhtProtocol))
            throw CliException.Usage($"the DHT protocol must be a protocol id such as {DefaultDhtProtocol} or /ipfs/kad/1.0.0, not '{DhtProtocol}'");
        (Mdns ?? throw CliException.Usage("the config's 'mdns' must be an object")).Validate();
        (Rendezvous ?? throw CliException.Usage("the config's 'rendezvous' must be an object")).Validate();
        if (Wss is null && ListenAddresses.Any(a => a.Has(MultiaddrProtocols.Wss) || a.Has(MultiaddrProtocols.Tls)))
            throw CliException.Usage("listening on /wss needs a certificate: p2p init --wss-certificate CERT.pem --wss-key KEY.pem (\"wss\" in config.json)");
        if (Wss is not null && (string.IsNullOrEmpty(Wss.Certificate) || string.IsNullOrEmpty(Wss.Key)))
            throw CliException.Usage("the config's 'wss' needs 'certificate' and 'key' (PEM files)");
        _ = SecurityLevel;
        foreach (var (swarm, hex) in SwarmKeys ?? [])
        {
            if (!P2PStack.Neural.NeuralProtocol.IsValidName(swarm) || hex is not { Length: 64 } || !hex.All(char.IsAsciiHexDigit))
                throw new CliException($"swarmKeys: '{swarm}' needs a valid swarm name and a key of 64 hex digits", ExitCodes.Usage);
        }
        foreach (var trusted in Trusted ?? [])
        {
            if (!P2PStack.Identity.PeerId.TryParse(trusted.PeerId, out _))
                throw new CliException($"the config trusts '{trusted.PeerId}', which is not a peer id", ExitCodes.Usage);
        }
        if (Nat is not ("auto" or "off")) throw new CliException($"nat must be \"auto\" or \"off\", got '{Nat}'", ExitCodes.Usage);
        if (Padding is not ("default" or "all")) throw new CliException($"padding must be \"default\" or \"all\", got '{Padding}'", ExitCodes.Usage);
        ValidatePadding();
        foreach (var relay in RelayAddresses ?? [])
        {
            if (relay.GetPeerId() is null) throw new CliException($"relay address {relay} needs /p2p/<peer id>", ExitCodes.Usage);
        }
        if (RelayLimitGraceSeconds is < 0 or > 300) throw CliException.Usage($"relayLimitGraceSeconds must be 0..300, got {RelayLimitGraceSeconds}");
        RelayService?.Validate();
        foreach (string server in StunServers ?? [])
        {
            if (!StunServerEndpoint.TryParse(server, out _)) throw new CliException($"STUN server '{server}' is not host:port", ExitCodes.Usage);
        }
        if (SecureChannels is null || SecureChannels.Count == 0 || SecureChannels.Any(c => c is not ("noise" or "tls")))
            throw new CliException("secureChannels must list one or both of \"noise\" and \"tls\"", ExitCodes.Usage);
        if (Dag is null) throw new CliException("the config's 'dag' section is empty", ExitCodes.Usage);
        Dag.Validate();
        return this;
    }

    /// <summary>A multistream protocol id: '/' then 1..127 printable ASCII characters without spaces.</summary>
    public static bool IsProtocolId(string? id) =>
        id is { Length: > 1 and <= 128 } && id[0] == '/' && id.All(c => c is > ' ' and < '\x7f');

    public static Multiaddr ParseAddress(string text, string what)
    {
        try
        {
            return Multiaddr.Parse(text);
        }
        catch (P2PStack.P2PFormatException e)
        {
            throw CliException.Usage($"invalid {what} address '{text}': {e.Message}", e);
        }
    }

    /// <summary>Reads the config (defaults when there is none); keys it does not know are listed in <paramref name="unknownKeys"/>.</summary>
    public static NodeConfig Load(NodeHome home, out IReadOnlyList<string> unknownKeys)
    {
        unknownKeys = [];
        if (!File.Exists(home.ConfigPath)) return new NodeConfig();
        var info = new FileInfo(home.ConfigPath);
        if (info.Length > MaxFileSize) throw new CliException($"{home.ConfigPath} is larger than {MaxFileSize} bytes");
        try
        {
            byte[] bytes = File.ReadAllBytes(home.ConfigPath);
            using (var document = JsonDocument.Parse(bytes)) unknownKeys = UnknownKeys(document.RootElement, typeof(NodeConfig), "");
            var config = JsonSerializer.Deserialize<NodeConfig>(bytes, CliOutput.JsonOptions)
                ?? throw new CliException($"{home.ConfigPath} is empty");
            return config.Validate();
        }
        catch (JsonException e)
        {
            throw new CliException($"{home.ConfigPath} is not valid JSON: {e.Message}", inner: e);
        }
    }

    public static NodeConfig Load(NodeHome home) => Load(home, out _);

    public void Save(NodeHome home) =>
        PrivateFile.WriteAtomically(home.ConfigPath, JsonSerializer.SerializeToUtf8Bytes(this, CliOutput.JsonOptions));

    /// <summary>Keys of <paramref name="element"/> (and of nested config objects) that <paramref name="type"/> has no property for.</summary>
    internal static IReadOnlyList<string> UnknownKeys(JsonElement element, Type type, string prefix)
    {
        if (element.ValueKind != JsonValueKind.Object) return [];
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is null)
            .ToDictionary(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name), StringComparer.OrdinalIgnoreCase);
        var unknown = new List<string>();
        foreach (var property in element.EnumerateObject())
        {
            if (!properties.TryGetValue(property.Name, out var known))
            {
                unknown.Add(prefix + property.Name);
                continue;
            }
            if (known.PropertyType.IsClass && known.PropertyType != typeof(string) && !known.PropertyType.IsGenericType)
                unknown.AddRange(UnknownKeys(property.Value, known.PropertyType, $"{prefix}{property.Name}."));
        }
        return unknown;
    }

    /// <summary>The names a config key may have, for the warning about unknown ones.</summary>
    internal static IReadOnlyList<string> KnownKeys(Type type) =>
        [.. type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is null)
            .Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name))];
}

/// <summary>The <c>mdns</c> section of config.json (libp2p mDNS discovery on the local network).</summary>
public sealed record MdnsConfig
{
    public const string DefaultServiceName = "_p2p._udp.local";

    /// <summary>true or false; absent (null) means on when the node listens on a non-loopback interface.</summary>
    public bool? Enabled { get; init; }

    /// <summary>DNS-SD service name; <c>_p2p-NAME._udp.local</c> keeps a private group of nodes apart.</summary>
    public string ServiceName { get; init; } = DefaultServiceName;

    /// <summary>UDP port (5353 on real networks; a test may isolate itself with another).</summary>
    public int Port { get; init; } = 5353;

    /// <summary>Seconds between queries.</summary>
    public double QueryIntervalSeconds { get; init; } = 10;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ServiceName) || !ServiceName.EndsWith(".local", StringComparison.OrdinalIgnoreCase)
            || ServiceName.Split('.').Any(label => label.Length is 0 or > 63))
            throw CliException.Usage($"the mDNS service name must look like _p2p._udp.local, not '{ServiceName}'");
        if (Port is < 1 or > 65535) throw CliException.Usage($"the mDNS port must be 1 to 65535, not {Port}");
        if (!(QueryIntervalSeconds >= 0.1)) throw CliException.Usage($"the mDNS query interval must be at least 0.1 seconds, not {QueryIntervalSeconds}");
    }
}

/// <summary>The <c>wss</c> section of config.json: PEM certificate (chain) and private key files, relative to the home directory.</summary>
public sealed record WssConfig(string Certificate, string Key);

/// <summary>The <c>rendezvous</c> section of config.json.</summary>
public sealed record RendezvousConfig
{
    /// <summary>Serve <c>/rendezvous/1.0.0</c>: other peers register and discover here.</summary>
    public bool Server { get; init; }

    /// <summary>Rendezvous points (multiaddrs ending in /p2p/PEER) that <c>discover --method rendezvous</c> asks and
    /// that the namespaces below are registered at.</summary>
    public List<string> Points { get; init; } = [];

    /// <summary>Namespaces this node registers under at every point while it runs (renewed before the TTL ends,
    /// unregistered at a clean stop).</summary>
    public List<string> Namespaces { get; init; } = [];

    /// <summary>TTL asked for each registration, in seconds (the spec's default is 7200; points cap it at 72 h).</summary>
    public int TtlSeconds { get; init; } = 7200;

    /// <summary>Seconds before a point that refused or could not be reached is tried again.</summary>
    public int RetrySeconds { get; init; } = 60;

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> PointAddresses => [.. (Points ?? []).Select(a => NodeConfig.ParseAddress(a, "rendezvous point"))];

    public void Validate()
    {
        if (Points is null || Namespaces is null) throw CliException.Usage("the config's 'rendezvous' needs 'points' and 'namespaces' lists");
        foreach (var point in PointAddresses)
        {
            if (point.GetPeerId() is null) throw CliException.Usage($"the rendezvous point '{point}' must end in /p2p/<peer id>");
        }
        foreach (string ns in Namespaces)
        {
            if (ns is not { Length: > 0 and <= P2PStack.Discovery.Rendezvous.RendezvousProtocol.MaxNamespaceLength })
                throw CliException.Usage($"a rendezvous namespace must be 1 to {P2PStack.Discovery.Rendezvous.RendezvousProtocol.MaxNamespaceLength} characters, not '{ns}'");
        }
        if (RetrySeconds < 1) throw CliException.Usage($"the rendezvous retry interval must be at least 1 second, not {RetrySeconds}");
        if (TtlSeconds is < 120 or > 72 * 3600) throw CliException.Usage($"the rendezvous TTL must be 120 to 259200 seconds (2 min to 72 h), not {TtlSeconds}");
    }
}

/// <summary>Limits of the relay service (circuit relay v2 hop); see docs/nat.md.</summary>
public sealed record RelayServiceConfig
{
    /// <summary>Reservations held at once, and per client IP (a flood from one address ends there).</summary>
    public int MaxReservations { get; init; } = 128;

    public int MaxReservationsPerIp { get; init; } = 8;

    /// <summary>Relayed connections at once, and per peer.</summary>
    public int MaxCircuits { get; init; } = 64;

    public int MaxCircuitsPerPeer { get; init; } = 16;

    /// <summary>Lifetime of a reservation before it must be renewed.</summary>
    public int ReservationTtlSeconds { get; init; } = 3600;

    /// <summary>How long one relayed connection may last (null: unlimited).</summary>
    public int? LimitDurationSeconds { get; init; } = 120;

    /// <summary>Bytes one relayed connection may carry each way (null: unlimited).</summary>
    public long? LimitDataBytes { get; init; } = 128 * 1024;

    public void Validate()
    {
        if (MaxReservations < 1 || MaxReservationsPerIp < 1 || MaxCircuits < 1 || MaxCircuitsPerPeer < 1 || ReservationTtlSeconds < 60)
            throw new CliException("relayService: the reservation and circuit limits must be at least 1, the TTL at least 60 s", ExitCodes.Usage);
        if (LimitDurationSeconds is < 1 || LimitDataBytes is < 1)
            throw new CliException("relayService: the duration and data limits must be positive (or null for none)", ExitCodes.Usage);
    }
}

/// <summary>"host:port" of a STUN server.</summary>
public static class StunServerEndpoint
{
    public static bool TryParse(string text, out (string Host, int Port) endpoint)
    {
        endpoint = default;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), out int port) || port is < 1 or > 65535) return false;
        string host = text[..colon].Trim('[', ']');
        if (host.Length == 0) return false;
        endpoint = (host, port);
        return true;
    }
}

/// <summary>A peer trusted by the node's configuration.</summary>
public sealed record TrustedPeerConfig(string PeerId, string? Name = null);
