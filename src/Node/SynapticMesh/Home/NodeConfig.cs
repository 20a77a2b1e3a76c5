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

    /// <summary>Largest config file read.</summary>
    public const int MaxFileSize = 1024 * 1024;

    public List<string> Listen { get; init; } = [.. DefaultListen];

    public List<string> Bootstrap { get; init; } = [];

    public int MaxPeers { get; init; } = DefaultMaxPeers;

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

    /// <summary>Peers trusted by configuration (trust method "config"), entered into the trust store at start.</summary>
    public List<TrustedPeerConfig> Trusted { get; init; } = [];

    /// <summary>NAT traversal: "auto" (AutoNAT, port mapping, DCUtR hole punching, relays when private) or "off".</summary>
    public string Nat { get; init; } = "auto";

    /// <summary>Relays to hold a reservation on whatever the reachability (multiaddrs with /p2p), <c>--relay</c>.</summary>
    public List<string> Relays { get; init; } = [];

    /// <summary>Serve as a circuit relay v2 hop for other peers, with these limits (<c>--relay-service</c>); null: not a relay.</summary>
    public RelayServiceConfig? RelayService { get; init; }

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

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> ListenAddresses => [.. Listen.Select(a => ParseAddress(a, "listen"))];

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> BootstrapAddresses => [.. Bootstrap.Select(a => ParseAddress(a, "bootstrap"))];

    /// <summary>Checks every field; the message says which one is wrong.</summary>
    public NodeConfig Validate()
    {
        if (Listen is null || Bootstrap is null) throw new CliException("the config needs 'listen' and 'bootstrap' lists", ExitCodes.Usage);
        if (Listen.Count == 0) throw new CliException("the config has no listen address", ExitCodes.Usage);
        _ = ListenAddresses;
        _ = BootstrapAddresses;
        if (MaxPeers < 1) throw new CliException($"max peers must be at least 1, got {MaxPeers}", ExitCodes.Usage);
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
        foreach (var relay in RelayAddresses ?? [])
        {
            if (relay.GetPeerId() is null) throw new CliException($"relay address {relay} needs /p2p/<peer id>", ExitCodes.Usage);
        }
        RelayService?.Validate();
        foreach (string server in StunServers ?? [])
        {
            if (!StunServerEndpoint.TryParse(server, out _)) throw new CliException($"STUN server '{server}' is not host:port", ExitCodes.Usage);
        }
        if (SecureChannels is null || SecureChannels.Count == 0 || SecureChannels.Any(c => c is not ("noise" or "tls")))
            throw new CliException("secureChannels must list one or both of \"noise\" and \"tls\"", ExitCodes.Usage);
        return this;
    }

    public static Multiaddr ParseAddress(string text, string what)
    {
        try
        {
            return Multiaddr.Parse(text);
        }
        catch (P2PStack.P2PFormatException e)
        {
            throw new CliException($"invalid {what} address '{text}': {e.Message}", ExitCodes.Usage, e);
        }
    }

    public static NodeConfig Load(NodeHome home)
    {
        if (!File.Exists(home.ConfigPath)) return new NodeConfig();
        var info = new FileInfo(home.ConfigPath);
        if (info.Length > MaxFileSize) throw new CliException($"{home.ConfigPath} is larger than {MaxFileSize} bytes");
        try
        {
            var config = JsonSerializer.Deserialize<NodeConfig>(File.ReadAllBytes(home.ConfigPath), CliOutput.JsonOptions)
                ?? throw new CliException($"{home.ConfigPath} is empty");
            return config.Validate();
        }
        catch (JsonException e)
        {
            throw new CliException($"{home.ConfigPath} is not valid JSON: {e.Message}", inner: e);
        }
    }

    public void Save(NodeHome home) =>
        PrivateFile.WriteAtomically(home.ConfigPath, JsonSerializer.SerializeToUtf8Bytes(this, CliOutput.JsonOptions));
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
