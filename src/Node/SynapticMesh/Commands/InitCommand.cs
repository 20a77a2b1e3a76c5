using System.CommandLine;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Commands;

/// <summary><c>p2p init</c>: creates the identity key file and config.json in the home directory.</summary>
public static class InitCommand
{
    public sealed record InitResult(string PeerId, string Home, string IdentityFile, bool Encrypted, string ConfigFile, NodeConfig Config);

    public static Command Create(CommandContextFactory contexts)
    {
        var listen = new Option<string[]>("--listen") { Description = "Listen multiaddr (repeatable; default /ip4/0.0.0.0/tcp/9000 and /ip4/0.0.0.0/tcp/9001/ws)" };
        var bootstrap = new Option<string[]>("--bootstrap") { Description = "Bootstrap peer multiaddr, dialed at start (repeatable)" };
        var maxPeers = new Option<int>("--max-peers") { Description = "Most peers kept connected", DefaultValueFactory = _ => NodeConfig.DefaultMaxPeers };
        var noPassphrase = new Option<bool>("--no-passphrase") { Description = "Store the identity key unencrypted" };
        var security = SecurityCommand.LevelOption("--security");
        security.Description += " (default secure)";
        var swarmKey = new Option<string?>("--swarm-key") { Description = "Join the private network of this swarm key file (copied into the home)" };
        var channels = new Option<string?>("--secure-channels") { Description = "Secure channels offered, in preference order: noise,tls (default), tls,noise, noise or tls" };
        var lan = new Option<bool>("--lan-discovery") { Description = "Announce and discover peers on the LAN with signed announcements" };
        var nat = new Option<string>("--nat") { Description = "NAT traversal: auto (AutoNAT, port mapping, hole punching, relays when private) or off", DefaultValueFactory = _ => "auto" };
        nat.AcceptOnlyFromAmong("auto", "off");
        var relays = new Option<string[]>("--relay") { Description = "Relay multiaddr with /p2p to hold a reservation on (repeatable)" };
        var relayService = new Option<bool>("--relay-service") { Description = "Serve as a circuit relay v2 for other peers (limits in config.json relayService)" };
        var stunServers = new Option<string[]>("--stun-server") { Description = "STUN server host:port for p2p nat --method stun (repeatable)" };
        var command = new Command("init", "Create the node identity (encrypted key file) and config")
        {
            listen, bootstrap, maxPeers, noPassphrase, security, swarmKey, channels, lan, nat, relays, relayService, stunServers,
        };
        command.SetAction(parse =>
        {
            var context = contexts.Create(parse);
            var config = new NodeConfig
            {
                Listen = parse.GetValue(listen) is { Length: > 0 } l ? [.. l] : [.. NodeConfig.DefaultListen],
                Bootstrap = [.. parse.GetValue(bootstrap) ?? []],
                MaxPeers = parse.GetValue(maxPeers),
                Security = parse.GetValue(security)?.Trim().ToLowerInvariant() ?? "secure",
                SecureChannels = parse.GetValue(channels) is { } list
                    ? [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => c.ToLowerInvariant())]
                    : ["noise", "tls"],
                LanDiscovery = parse.GetValue(lan),
                Nat = parse.GetValue(nat) ?? "auto",
                Relays = [.. parse.GetValue(relays) ?? []],
                RelayService = parse.GetValue(relayService) ? new RelayServiceConfig() : null,
                StunServers = [.. parse.GetValue(stunServers) ?? []],
            }.Validate();
            var home = context.NodeHome;
            if (home.HasIdentity) throw new CliException($"{home.Directory} is already initialised ({home.IdentityPath} exists)");
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
            context.Output.Result(result, text => Print(text, result));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Writes the key file and the config (used by <c>init</c>, and by <c>start</c> on a fresh home).</summary>
    public static InitResult Initialise(NodeHome home, NodeConfig config, string? passphrase)
    {
        home.EnsureExists();
        var peerId = IdentityFile.Create(home, passphrase);
        config.Save(home);
        return new InitResult(peerId.ToString(), home.Directory, home.IdentityPath, passphrase is not null, home.ConfigPath, config);
    }

    public static void Print(TextWriter text, InitResult result)
    {
        text.WriteLine($"Initialised {result.Home}");
        text.WriteLine($"  peer id:  {result.PeerId}");
        text.WriteLine($"  identity: {result.IdentityFile} ({(result.Encrypted ? "encrypted" : "NOT encrypted")})");
        text.WriteLine($"  config:   {result.ConfigFile}");
        foreach (var address in result.Config.Listen) text.WriteLine($"  listen:   {address}");
        foreach (var address in result.Config.Bootstrap) text.WriteLine($"  bootstrap: {address}");
        text.WriteLine($"  security: {result.Config.Security}");
        text.WriteLine($"  nat:      {result.Config.Nat}{(result.Config.RelayService is null ? "" : ", relay service")}");
        foreach (var address in result.Config.Relays) text.WriteLine($"  relay:    {address}");
        if (result.Config.SwarmKey is { } swarmKey) text.WriteLine($"  private network key: {Path.Combine(result.Home, swarmKey)}");
    }
}
