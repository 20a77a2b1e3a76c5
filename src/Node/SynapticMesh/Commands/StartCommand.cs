using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using P2PStack.Metrics;
using P2PStack.Network;
using P2PStack.Registry;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Home;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p start</c>: runs the node in the foreground until SIGINT/SIGTERM, serving the control API on loopback.
/// On a home with no identity it first initialises one with the defaults.
/// </summary>
public static class StartCommand
{
    /// <param name="OnionRelayEventLoop">On a relay: whether its circuits run as one event loop per socket thread (the
    /// runtime's inline socket completions in effect); null on a node that does not relay.</param>
    public sealed record StartResult(string PeerId, IReadOnlyList<string> Addresses, string Api, string Home, string? Metrics = null,
        RegistryStatus? Registry = null, bool? OnionRelayEventLoop = null);

    /// <summary>The first registration's outcome (<c>--registry</c>): the node's status there, or why it failed (it keeps trying).</summary>
    public sealed record RegistryStatus(string Url, string? Status, string? Error);

    /// <summary><c>--registry</c> and its companions.</summary>
    private sealed record RegistrySettings(Uri Url, TimeSpan HeartbeatInterval, string? Name);

    public static Command Create(CommandContextFactory contexts)
    {
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Least severe log messages shown on stderr",
            DefaultValueFactory = _ => LogLevel.Warning,
        };
        var metrics = new Option<string?>("--metrics")
        {
            Description = "Serve Prometheus metrics at http://ADDRESS/metrics on a loopback address, e.g. 127.0.0.1:9464 (no auth)",
            HelpName = "ip:port",
        };
        var registry = RegistryCommand.RegistryOption();
        registry.Description = "Register with this registry (signed with the node's key), heartbeat, report connections and metrics, discover active peers";
        var registryHeartbeat = new Option<double>("--registry-heartbeat")
        {
            Description = "Seconds between registry heartbeats",
            DefaultValueFactory = _ => new RegistryAgentOptions().HeartbeatInterval.TotalSeconds,
        };
        var registryName = new Option<string?>("--registry-name") { Description = "Name shown in the registry" };
        var perf = new Option<bool>("--perf")
        {
            Description = "Serve /perf/1.0.0 to peers on public addresses too (by default only to local and private ones)",
        };
        var perfMaxBytes = new Option<ulong?>("--perf-max-bytes")
        {
            Description = $"Largest /perf/1.0.0 upload or download served per stream (default {new P2PStack.Protocols.Perf.PerfOptions().MaxServeBytes})",
            HelpName = "bytes",
        };
        var noPassphrase = new Option<bool>("--no-passphrase")
        {
            Description = "On a home with no identity yet, store the new identity key unencrypted (as p2p init --no-passphrase)",
        };
        var relayEventLoop = new Option<string?>("--onion-relay-event-loop")
        {
            Description = "On an onion relay: on runs its circuits as one event loop per socket thread (the runtime's inline "
                + $"socket completions, for every socket of the node), off does not ask for them (a node started with "
                + $"{InlineSocketCompletions.Variable}=1 has them anyway) (config onionRelayEventLoop; default "
                + $"{(NodeConfig.DefaultOnionRelayEventLoop ? "on" : "off")})",
            HelpName = "on|off",
        };
        relayEventLoop.AcceptOnlyFromAmong("on", "off");
        var command = new Command("start", "Run the node in the foreground until Ctrl+C / SIGTERM")
        {
            logLevel, metrics, registry, registryHeartbeat, registryName, perf, perfMaxBytes, noPassphrase, relayEventLoop,
        };
        command.SetAction((parse, cancellationToken) => RunAsync(contexts.Create(parse), parse.GetValue(logLevel),
            parse.GetValue(metrics) is { } endpoint ? MetricsEndpoint.Parse(endpoint) : null,
            parse.GetValue(registry) is { } url ? new RegistrySettings(RegistryCommand.ParseUrl(url),
                double.IsFinite(parse.GetValue(registryHeartbeat)) && parse.GetValue(registryHeartbeat) > 0
                    ? TimeSpan.FromSeconds(parse.GetValue(registryHeartbeat))
                    : throw new CliException("--registry-heartbeat must be a positive number of seconds", ExitCodes.Usage),
                parse.GetValue(registryName)) : null,
            parse.GetValue(perf),
            parse.GetValue(perfMaxBytes),
            parse.GetValue(noPassphrase),
            parse.GetValue(relayEventLoop) is { } loop ? loop == "on" : null,
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext context, LogLevel logLevel, IPEndPoint? metricsEndpoint,
        RegistrySettings? registry, bool perfForPublicPeers, ulong? perfMaxBytes, bool noPassphrase, bool? relayEventLoop,
        CancellationToken cancellationToken)
    {
        var home = context.NodeHome;
        var output = context.Output;
        home.EnsureExists();
        using var nodeLock = NodeLock.Acquire(home);
        var config = NodeConfig.Load(home, out var unknownKeys);
        if (!home.HasIdentity) InitialiseWithDefaults(context, config, noPassphrase);
        if (unknownKeys.Count > 0)
            output.Warning($"{home.ConfigPath}: unknown key{(unknownKeys.Count == 1 ? "" : "s")} {string.Join(", ", unknownKeys.Select(k => $"'{k}'"))} "
                + $"ignored (known keys: {string.Join(", ", NodeConfig.KnownKeys(typeof(NodeConfig)))}; mdns: {string.Join(", ", NodeConfig.KnownKeys(typeof(MdnsConfig)))})");
        using var key = IdentityFile.Load(home, output);
        bool? eventLoop = config.OnionRelay ? StartRelayEventLoop(output, relayEventLoop ?? config.OnionRelayEventLoop, config.OnionRelayEventThreads) : null;
        if (!config.OnionRelay && relayEventLoop is not null)
            output.Warning("--onion-relay-event-loop ignored: this node is not an onion relay (config onionRelay)");

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // No file watcher on the home directory for appsettings.json reloads: the node has no reloadable
            // settings, and the watcher woke on every write of its SQLite databases (peer store, trust, DHT) there,
            // several per new connection (docs/benchmarks.md, "Connection setup").
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = home.Directory,
            ApplicationName = "synaptic-mesh",
        });
        ConfigureLogging(builder.Logging, logLevel);
        ControlApi.Configure(builder, new ControlApiOptions());
        builder.Services.AddSingleton(config);
        builder.Services.AddSynapticMeshNode(key, config, home, metrics: metricsEndpoint is not null, perfForPublicPeers: perfForPublicPeers,
            perfMaxBytes: perfMaxBytes);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = SynapticMeshCli.ShutdownGrace);
        if (metricsEndpoint is not null || registry is not null)
        {
            // Round-trip times kept current for the RTT metrics and the registry's links.
            builder.Services.AddSingleton(new PeerRttProbeOptions());
            builder.Services.AddHostedService<PeerRttProbe>();
        }
        if (metricsEndpoint is not null) builder.Services.AddSingleton<MeshLinkMetrics>();
        if (registry is not null) builder.Services.AddSingleton<RegistryAgentSlot>(); // p2p discover --method registry

        await using var app = builder.Build();
        string token = ControlApi.NewToken();
        ControlApi.Map(app, token);
        // Resolved before the node starts, so that counters count from the first connection.
        var exporter = metricsEndpoint is null ? null : app.Services.GetRequiredService<PrometheusExporter>();
        if (metricsEndpoint is not null) app.Services.GetRequiredService<MeshLinkMetrics>();
        MetricsEndpoint? metrics = null;
        RegistryAgent? agent = null;
        try
        {
            await app.StartAsync(cancellationToken);
            if (exporter is not null) metrics = await MetricsEndpoint.StartAsync(metricsEndpoint!, exporter, cancellationToken);
        }
        catch (CliException)
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new CliException($"the node could not start: {e.Message}", inner: e);
        }

        var peerHost = app.Services.GetRequiredService<IPeerHost>();
        var endpoint = new ApiEndpointFile(ControlApi.BoundPort(app), token, Environment.ProcessId, peerHost.PeerId.ToString());
        try
        {
            endpoint.Save(home);
            RegistryStatus? registered = null;
            if (registry is not null)
            {
                agent = new RegistryAgent(new RegistryClient(key, new RegistryClientOptions { BaseAddress = registry.Url, RequestTimeout = TimeSpan.FromSeconds(15) }), peerHost,
                    new RegistryAgentOptions { HeartbeatInterval = registry.HeartbeatInterval, Name = registry.Name }, metrics?.Url,
                    app.Services.GetRequiredService<ILogger<RegistryAgent>>());
                app.Services.GetRequiredService<RegistryAgentSlot>().Agent = agent;
                var (answer, error) = await agent.StartAsync(cancellationToken);
                registered = new RegistryStatus(registry.Url.ToString().TrimEnd('/'), answer?.Status, error);
            }
            var result = new StartResult(peerHost.PeerId.ToString(), AddressDisplay.Dialable(peerHost.ListenAddresses, peerHost.PeerId),
                endpoint.BaseAddress.ToString().TrimEnd('/'), home.Directory, metrics?.Url.ToString(), registered, eventLoop);
            output.ResultLine(result, text => Print(text, result));
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            ApiEndpointFile.Delete(home);
            if (agent is not null) await agent.DisposeAsync();
            if (metrics is not null) await metrics.DisposeAsync();
            using var grace = new CancellationTokenSource(SynapticMeshCli.ShutdownGrace);
            await app.StopAsync(grace.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            output.Notice("node stopped");
        }
        return ExitCodes.Success;
    }

    /// <summary>
    /// A relay's event loop: asks the runtime for inline socket completions before the node's first socket (the runtime
    /// reads its switch once, when the first socket registers), so that a node started without
    /// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> gets it too; the relay's circuits then run on the muxer's
    /// read loops by themselves (<c>OnionRelayOptions.ReadLinksOnMuxerLoop</c> follows the runtime). Returns whether the
    /// sockets complete inline. The runtime's socket event threads: <paramref name="eventThreads"/> (config
    /// onionRelayEventThreads; 0 leaves the runtime's one per core). Asked for explicitly and not obtained (a socket was used earlier in this process): said.
    /// </summary>
    private static bool StartRelayEventLoop(CliOutput output, bool? asked, int eventThreads)
    {
        if (!(asked ?? NodeConfig.DefaultOnionRelayEventLoop)) return InlineSocketCompletions.Enabled; // the environment may still set it
        bool enabled = InlineSocketCompletions.TryEnable(eventThreads);
        if (!enabled && asked == true)
            output.Warning("the onion relay runs without its event loop: this process used a socket before the node started, "
                + $"so the runtime's socket completions stay on the thread pool (start the node with {InlineSocketCompletions.Variable}=1)");
        return enabled;
    }

    private static void InitialiseWithDefaults(CommandContext context, NodeConfig config, bool noPassphrase)
    {
        var home = context.NodeHome;
        var output = context.Output;
        // The key is stored unencrypted only when asked for (--no-passphrase), and then said prominently: with no
        // passphrase in the environment and no terminal to ask on, Passphrase.ForNewKey refuses and says how to give one.
        string? passphrase = noPassphrase ? null : Passphrase.ForNewKey(output);
        // A config.json written by hand stays as it is (unknown keys included, for the warning to name them).
        var result = InitCommand.Initialise(home, config, passphrase, keepConfig: File.Exists(home.ConfigPath));
        output.Notice($"no identity in {home.Directory}: initialised a new one with the defaults (peer id {result.PeerId}, key "
            + (result.Encrypted ? "encrypted" : "stored unencrypted, as --no-passphrase asked") + ")");
        if (!result.Encrypted) output.ProminentWarning(UnencryptedKeyWarning(home, context.HomeOption));
    }

    /// <summary>Said prominently on stderr (a framed block, or a JSON warning line) whenever start creates a plain key.</summary>
    internal static string UnencryptedKeyWarning(NodeHome home, string homeOption) =>
        $"the identity key {home.IdentityPath} is NOT encrypted: anyone who can read that file can act as this node. "
        + $"Encrypt it (same peer id) with `synaptic-mesh p2p init{homeOption}`, "
        + $"which asks for a passphrase (or takes {Passphrase.Variable}); or set {Passphrase.Variable} before the first `p2p start`.";

    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        // Logs go to stderr: stdout carries only the command's result.
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(level);
        if (level > LogLevel.Debug)
        {
            logging.AddFilter("Microsoft", LogLevel.Warning);
            // A start failure is reported as one line by the command; the host's own log of it carries a stack trace.
            logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        }
    }

    private static void Print(TextWriter text, StartResult result)
    {
        text.WriteLine($"peer id: {result.PeerId}");
        text.WriteLine("listening on:");
        foreach (var address in result.Addresses) text.WriteLine($"  {address}");
        text.WriteLine($"control API: {result.Api} (token in {Path.Combine(result.Home, "api.json")})");
        if (result.Metrics is not null) text.WriteLine($"metrics: {result.Metrics} (Prometheus text format, loopback, no auth)");
        if (result.OnionRelayEventLoop is { } loop)
            text.WriteLine($"onion relay: {(loop ? "one event loop per socket thread (inline socket completions)" : "circuits on the thread pool")}");
        if (result.Registry is { } r)
            text.WriteLine(r.Status is not null ? $"registry: {r.Url} (status {r.Status})" : $"registry: {r.Url} (not registered yet: {r.Error}; retrying)");
        text.WriteLine("press Ctrl+C to stop");
    }
}
