using System.CommandLine;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PStack.Registry;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>registry start</c>: runs the registry service (P2PStack.Registry) in the foreground until SIGINT/SIGTERM.
/// Port and database fall back to the seed's MESH_PORT and MESH_DB_PATH.
/// </summary>
public static class RegistryStartCommand
{
    public sealed record RegistryStartResult(string Url, string Database, IReadOnlyList<string> Sovereigns, string ReadAccess);

    public static Command Create(CommandContextFactory contexts)
    {
        var port = new Option<int?>("--port") { Description = $"TCP port (default: $MESH_PORT, else {RegistryOptions.DefaultPort}; 0 picks a free one)" };
        var db = new Option<string?>("--db") { Description = "SQLite database file (default: $MESH_DB_PATH, else registry.db in the home directory)", HelpName = "path" };
        var bind = new Option<string>("--bind") { Description = "Address to listen on", DefaultValueFactory = _ => "0.0.0.0", HelpName = "ip" };
        var sovereign = new Option<string[]>("--sovereign")
        {
            Description = "A sovereign key (peer id or base64url public key) that may approve and deny nodes and add sovereigns (repeatable)",
            HelpName = "key",
        };
        var offlineAfter = new Option<double>("--offline-after") { Description = "Seconds without heartbeat before a node is offline", DefaultValueFactory = _ => 300 };
        var sweepInterval = new Option<double>("--sweep-interval") { Description = "Seconds between sweeps", DefaultValueFactory = _ => 15 };
        var readAccess = new Option<string>("--read-access")
        {
            Description = "Who reads nodes, topology, graph, targets, events: loopback-open (others need a token or a signed request), authenticated, open",
            DefaultValueFactory = _ => "loopback-open",
        };
        readAccess.AcceptOnlyFromAmong("loopback-open", "authenticated", "open");
        var readToken = new Option<string[]>("--read-token") { Description = "A bearer token accepted on read endpoints (repeatable; at least 16 characters)" };
        var cors = new Option<string[]>("--cors-origin") { Description = "A browser origin allowed to read cross-origin (repeatable; CORS is off without)" };
        var rate = new Option<int>("--rate-limit") { Description = "Requests per second per client address (burst 5x)", DefaultValueFactory = _ => 20 };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Least severe log messages shown on stderr", DefaultValueFactory = _ => LogLevel.Information };
        var command = new Command("start", "Run the registry service in the foreground until Ctrl+C / SIGTERM")
        {
            port, db, bind, sovereign, offlineAfter, sweepInterval, readAccess, readToken, cors, rate, logLevel,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var options = new RegistryOptions
            {
                Port = parse.GetValue(port) ?? EnvironmentPort(),
                DatabasePath = parse.GetValue(db) ?? NonEmpty(Environment.GetEnvironmentVariable("MESH_DB_PATH"))
                    ?? Path.Combine(context.Home, "registry.db"),
                ListenAddress = IPAddress.TryParse(parse.GetValue(bind), out var address) ? address
                    : throw new CliException($"--bind wants an IP address, not '{parse.GetValue(bind)}'", ExitCodes.Usage),
                OfflineAfter = Seconds(parse.GetValue(offlineAfter), "--offline-after"),
                SweepInterval = Seconds(parse.GetValue(sweepInterval), "--sweep-interval"),
                ReadAccess = parse.GetValue(readAccess) switch
                {
                    "authenticated" => ReadAccess.Authenticated,
                    "open" => ReadAccess.Open,
                    _ => ReadAccess.LoopbackOpen,
                },
                RateLimitPerSecond = Math.Max(1, parse.GetValue(rate)),
                RateLimitBurst = Math.Max(1, parse.GetValue(rate)) * 5,
            };
            foreach (var key in parse.GetValue(sovereign) ?? [])
            {
                try
                {
                    options.InitialSovereigns.Add(SovereignKey.Parse(key).ToString());
                }
                catch (FormatException e)
                {
                    throw new CliException($"--sovereign: {e.Message}", ExitCodes.Usage, e);
                }
            }
            options.ReadTokens.AddRange(parse.GetValue(readToken) ?? []);
            options.CorsOrigins.AddRange(parse.GetValue(cors) ?? []);
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CliException(e.Message, ExitCodes.Usage, e);
            }
            return await RunAsync(context, options, parse.GetValue(logLevel), cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(CommandContext context, RegistryOptions options, LogLevel logLevel, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(options.DatabasePath))!);
        RegistryServer server;
        try
        {
            server = await RegistryServer.StartAsync(options, logging => ConfigureLogging(logging, logLevel), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new CliException($"the registry could not start: {e.Message}", inner: e);
        }
        await using (server)
        {
            var result = new RegistryStartResult(server.BaseAddress.ToString().TrimEnd('/'), Path.GetFullPath(options.DatabasePath),
                options.InitialSovereigns, options.ReadAccess.ToString());
            context.Output.ResultLine(result, text =>
            {
                text.WriteLine($"registry: {result.Url} (listening on {options.ListenAddress}:{server.BaseAddress.Port})");
                text.WriteLine($"database: {result.Database}");
                text.WriteLine($"topology page: {result.Url}/ui/");
                text.WriteLine(result.Sovereigns.Count == 0
                    ? "sovereigns: none given here (the database's own, if any); pass --sovereign KEY to add the first"
                    : $"sovereigns: {string.Join(", ", result.Sovereigns)}");
                text.WriteLine("press Ctrl+C to stop");
            });
            await server.WaitForShutdownAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            context.Output.Notice("registry stopped");
        }
        return ExitCodes.Success;
    }

    private static int EnvironmentPort()
    {
        string? text = NonEmpty(Environment.GetEnvironmentVariable("MESH_PORT"));
        if (text is null) return RegistryOptions.DefaultPort;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port <= 65535 ? port
            : throw new CliException($"MESH_PORT must be a port number, not '{text}'", ExitCodes.Usage);
    }

    private static string? NonEmpty(string? text) => string.IsNullOrWhiteSpace(text) ? null : text;

    private static TimeSpan Seconds(double value, string option) =>
        double.IsFinite(value) && value > 0 && value <= TimeSpan.MaxValue.TotalSeconds / 2 ? TimeSpan.FromSeconds(value)
            : throw new CliException($"{option} must be a positive number of seconds", ExitCodes.Usage);

    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(level);
        logging.AddFilter("Microsoft", LogLevel.Warning);
    }
}
