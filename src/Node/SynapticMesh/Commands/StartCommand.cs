using System.CommandLine;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using P2PStack.Metrics;
using P2PStack.Network;
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
    public sealed record StartResult(string PeerId, IReadOnlyList<string> Addresses, string Api, string Home, string? Metrics = null);

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
        var perf = new Option<bool>("--perf")
        {
            Description = "Serve /perf/1.0.0 to peers on public addresses too (by default only to local and private ones)",
        };
        var command = new Command("start", "Run the node in the foreground until Ctrl+C / SIGTERM") { logLevel, metrics, perf };
        command.SetAction((parse, cancellationToken) => RunAsync(contexts.Create(parse), parse.GetValue(logLevel),
            parse.GetValue(metrics) is { } endpoint ? MetricsEndpoint.Parse(endpoint) : null, parse.GetValue(perf), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext context, LogLevel logLevel, IPEndPoint? metricsEndpoint, bool perfForPublicPeers,
        CancellationToken cancellationToken)
    {
        var home = context.NodeHome;
        var output = context.Output;
        home.EnsureExists();
        using var nodeLock = NodeLock.Acquire(home);
        if (!home.HasIdentity) InitialiseWithDefaults(home, output);
        var config = NodeConfig.Load(home);
        using var key = IdentityFile.Load(home, output);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = home.Directory,
            ApplicationName = "synaptic-mesh",
        });
        ConfigureLogging(builder.Logging, logLevel);
        ControlApi.Configure(builder, new ControlApiOptions());
        builder.Services.AddSingleton(config);
        builder.Services.AddSynapticMeshNode(key, config, home, metrics: metricsEndpoint is not null, perfForPublicPeers: perfForPublicPeers);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = SynapticMeshCli.ShutdownGrace);

        await using var app = builder.Build();
        string token = ControlApi.NewToken();
        ControlApi.Map(app, token);
        // Resolved before the node starts, so that counters count from the first connection.
        var exporter = metricsEndpoint is null ? null : app.Services.GetRequiredService<PrometheusExporter>();
        MetricsEndpoint? metrics = null;
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
            var result = new StartResult(peerHost.PeerId.ToString(), AddressDisplay.Dialable(peerHost.ListenAddresses, peerHost.PeerId),
                endpoint.BaseAddress.ToString().TrimEnd('/'), home.Directory, metrics?.Url.ToString());
            output.ResultLine(result, text => Print(text, result));
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            ApiEndpointFile.Delete(home);
            if (metrics is not null) await metrics.DisposeAsync();
            using var grace = new CancellationTokenSource(SynapticMeshCli.ShutdownGrace);
            await app.StopAsync(grace.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            output.Notice("node stopped");
        }
        return ExitCodes.Success;
    }

    private static void InitialiseWithDefaults(NodeHome home, CliOutput output)
    {
        // With no passphrase in the environment and no terminal to ask on, the key is stored unencrypted (and we
        // say so), so that a plain `p2p start` works on a fresh machine.
        string? passphrase = Passphrase.FromEnvironment();
        if (passphrase is null && Passphrase.CanPrompt) passphrase = Passphrase.ForNewKey(output);
        var result = InitCommand.Initialise(home, NodeConfig.Load(home), passphrase);
        output.Notice($"no identity in {home.Directory}: initialised a new one with the defaults (peer id {result.PeerId}, key "
            + (result.Encrypted ? "encrypted" : $"NOT encrypted; set {Passphrase.Variable} before the first start to encrypt it") + ")");
    }

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
        text.WriteLine("press Ctrl+C to stop");
    }
}
