using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Security.Pnet;
using P2PStack.Trust;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p security init --level L [--auto-trust-first]</c>, <c>p2p security status</c>,
/// <c>p2p security swarm-key generate [--out FILE]</c>.
/// </summary>
public static class SecurityCommand
{
    public sealed record SecurityStatus(string Level, bool AutoTrustFirst, bool SealByDefault, string? PrivateNetwork,
        IReadOnlyList<string> SecureChannels, IReadOnlyList<string>? SecurityProtocols, int Trusted, int Revoked, bool Running,
        IReadOnlyDictionary<string, long>? Refused = null);

    public sealed record SecurityInitResult(string Level, bool AutoTrustFirst, string ConfigFile, bool RestartNeeded);

    public sealed record SwarmKeyResult(string Fingerprint, string? File, string? Key);

    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("security", "Security level, trust policy and private network key");
        command.Subcommands.Add(CreateInit(contexts));
        command.Subcommands.Add(CreateStatus(contexts));
        var swarmKey = new Command("swarm-key", "Private network (libp2p pnet) keys");
        swarmKey.Subcommands.Add(CreateGenerate(contexts));
        command.Subcommands.Add(swarmKey);
        return command;
    }

    public static Option<string> LevelOption(string name) => new(name)
    {
        Description = $"Security level: {string.Join(", ", SecurityLevels.Names)}",
        Validators =
        {
            result =>
            {
                if (result.GetValueOrDefault<string>() is { } value && !SecurityLevels.Names.Contains(value.Trim().ToLowerInvariant()))
                    result.AddError($"the level must be one of {string.Join(", ", SecurityLevels.Names)}");
            },
        },
    };

    private static Command CreateInit(CommandContextFactory contexts)
    {
        var level = LevelOption("--level");
        level.Required = true;
        var autoTrust = new Option<bool?>("--auto-trust-first") { Description = "At secure: trust new peers on first use (true/false)" };
        var command = new Command("init", "Set the node's security level in its config") { level, autoTrust };
        command.SetAction(parse =>
        {
            var context = contexts.Create(parse);
            var home = context.NodeHome;
            if (!home.HasIdentity) throw new CliException($"{home.Directory} is not initialised; run `synaptic-mesh p2p init` first");
            var config = NodeConfig.Load(home);
            config = config with
            {
                Security = parse.GetValue(level)!.Trim().ToLowerInvariant(),
                AutoTrustFirst = parse.GetValue(autoTrust) ?? config.AutoTrustFirst,
            };
            config.Validate().Save(home);
            var result = new SecurityInitResult(config.Security, config.AutoTrustFirst, home.ConfigPath, ApiEndpointFile.TryLoad(home) is not null);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"security level: {result.Level}{(result.AutoTrustFirst ? " (trust on first use)" : "")}");
                text.WriteLine($"  config: {result.ConfigFile}");
                if (result.RestartNeeded) text.WriteLine("  the running node keeps its level until it is restarted");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CreateStatus(CommandContextFactory contexts)
    {
        var command = new Command("status", "Show the security level, private network, secure channels and trust store");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var home = context.NodeHome;
            SecurityStatus result;
            if (ApiEndpointFile.TryLoad(home) is not null)
            {
                using var client = ControlClient.Open(home);
                result = await client.GetAsync<SecurityStatus>("v1/security", cancellationToken);
            }
            else
            {
                result = Offline(home, NodeConfig.Load(home));
            }
            context.Output.Result(result, text => Print(text, result));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CreateGenerate(CommandContextFactory contexts)
    {
        var output = new Option<string?>("--out") { Description = "Write the key file here (mode 0600) instead of printing it" };
        var command = new Command("generate", "Generate a new swarm key (libp2p PSK v1, base16)") { output };
        command.SetAction(parse =>
        {
            var context = contexts.Create(parse);
            var key = SwarmKey.Generate();
            string? path = parse.GetValue(output);
            if (path is not null)
            {
                path = Path.GetFullPath(path);
                if (File.Exists(path)) throw new CliException($"{path} exists already; a swarm key is never overwritten");
                key.Save(path);
            }
            var result = new SwarmKeyResult(key.Fingerprint, path, path is null ? key.ToFileText() : null);
            context.Output.Result(result, text =>
            {
                if (path is null) text.Write(key.ToFileText());
                else text.WriteLine($"swarm key {key.Fingerprint} written to {path}");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    private static SecurityStatus Offline(NodeHome home, NodeConfig config)
    {
        int trusted = 0, revoked = 0;
        if (File.Exists(home.TrustStorePath))
        {
            using var store = new TrustStore(new TrustOptions { DatabasePath = home.TrustStorePath });
            trusted = store.ListTrusted().Count;
            revoked = store.ListRevoked().Count;
        }
        return new SecurityStatus(config.Security, config.AutoTrustFirst, config.SecurityLevel >= SecurityLevel.Secure,
            PrivateNetwork(home, config), config.SecureChannels, null, trusted, revoked, Running: false);
    }

    private static string? PrivateNetwork(NodeHome home, NodeConfig config) =>
        config.SwarmKey is { } file ? SwarmKey.Load(home.Resolve(file)).Fingerprint : null;

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/security", (NodeConfig config, NodeHome home, TrustStore store, TrustMetrics metrics, IServiceProvider services) =>
        {
            var host = services.GetRequiredService<P2PStack.Host.PeerHost>();
            var refused = metrics.ConnectionsRefused.ToDictionary(kv => $"{kv.Key.Stage}/{kv.Key.Reason}", kv => kv.Value);
            foreach (var (key, value) in metrics.DiscoveriesRefused) refused[$"discovery:{key.Source}/{key.Reason}"] = value;
            return new SecurityStatus(config.Security, config.AutoTrustFirst, config.SecurityLevel >= SecurityLevel.Secure,
                PrivateNetwork(home, config), config.SecureChannels, host.SecurityProtocols, store.ListTrusted().Count,
                store.ListRevoked().Count, Running: true, refused);
        });

    private static void Print(TextWriter text, SecurityStatus status)
    {
        text.WriteLine($"security level:   {status.Level}{(status.AutoTrustFirst ? " (trust on first use)" : "")}");
        text.WriteLine($"sealed messages:  {(status.SealByDefault ? "on by default" : "off by default")}");
        text.WriteLine($"private network:  {(status.PrivateNetwork is { } fp ? $"swarm key {fp}" : "none (public network)")}");
        text.WriteLine($"secure channels:  {string.Join(", ", status.SecurityProtocols ?? status.SecureChannels)}");
        text.WriteLine($"trust store:      {status.Trusted} trusted, {status.Revoked} revoked");
        text.WriteLine($"node:             {(status.Running ? "running" : "not running")}");
        if (status.Refused is { Count: > 0 } refused)
        {
            text.WriteLine("refused:");
            foreach (var (reason, count) in refused.OrderBy(kv => kv.Key, StringComparer.Ordinal)) text.WriteLine($"  {reason}: {count}");
        }
    }
}
