using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using P2PStack;
using P2PStack.Addressing;
using P2PStack.Daemon;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>synaptic-mesh daemon</c>: a libp2p daemon speaking go-libp2p-daemon's control protocol on a unix or TCP socket, so
/// daemon clients (and the libp2p interop suite's test factories) drive the node like <c>p2pd</c>. Flags have
/// p2pd's names as aliases (<c>-hostAddrs=...</c>, <c>-dhtServer</c>, <c>-pubsubRouter=floodsub</c>, ...). Stateless:
/// no home directory; the identity comes from <c>--id</c> or is new.
/// </summary>
public static class DaemonCommand
{
    public sealed record DaemonStarted(string ControlSocket, string PeerId, IReadOnlyList<string> Addresses);

    public sealed record Capabilities(IReadOnlyList<string> Transports, IReadOnlyList<string> Security, IReadOnlyList<string> Muxers,
        IReadOnlyList<string> PubSubRouters, bool Dht, bool Relay);

    private sealed class Flags
    {
        public readonly Option<string> Listen = new("--listen", "-listen")
        {
            Description = "Control socket: /unix/PATH or /ip4/127.0.0.1/tcp/PORT (port 0 picks one; printed on start)",
            DefaultValueFactory = _ => DaemonOptions.DefaultControlAddress.ToString(),
        };
        public readonly Option<string?> Id = new("--id", "-id")
        {
            Description = $"Private key file: a libp2p PrivateKey protobuf (as p2pd) or a synaptic-mesh key file ({Passphrase.Variable} for an encrypted one); default: a new Ed25519 key",
        };
        public readonly Option<string[]> HostAddrs = AddressList("--host-addrs", "-hostAddrs", "Listen addresses, comma-separated (default /ip4/0.0.0.0/tcp/0)");
        public readonly Option<string[]> AnnounceAddrs = AddressList("--announce-addrs", "-announceAddrs", "Addresses to announce instead of the listen addresses");
        public readonly Option<bool> NoListen = new("--no-listen", "-noListenAddrs") { Description = "Listen on no address (dial only)" };
        public readonly Option<bool> Dht = new("--dht", "-dht") { Description = "Run the DHT (/ipfs/kad/1.0.0) as a server" };
        public readonly Option<bool> DhtServer = new("--dht-server", "-dhtServer") { Description = "Run the DHT in server mode (same as --dht)" };
        public readonly Option<bool> DhtClient = new("--dht-client", "-dhtClient") { Description = "Run the DHT in client mode (query only)" };
        public readonly Option<bool> PubSub = new("--pubsub", "-pubsub") { Description = "Run a pubsub router" };
        public readonly Option<string> PubSubRouter = new("--pubsub-router", "-pubsubRouter")
        {
            Description = "Pubsub router: gossipsub or floodsub",
            DefaultValueFactory = _ => "gossipsub",
        };
        public readonly Option<bool> PubSubSign = new("--pubsub-sign", "-pubsubSign")
        {
            Description = "Sign published messages and require signatures (false: unsigned, anonymous messages)",
            DefaultValueFactory = _ => true,
        };
        public readonly Option<string?> HeartbeatInterval = new("--gossipsub-heartbeat-interval", "-gossipsubHeartbeatInterval")
        {
            Description = "Gossipsub heartbeat interval, e.g. 1s",
        };
        public readonly Option<string?> HeartbeatInitialDelay = new("--gossipsub-heartbeat-initial-delay", "-gossipsubHeartbeatInitialDelay")
        {
            Description = "Gossipsub heartbeat initial delay, e.g. 100ms",
        };
        public readonly Option<string[]> Security = List("--security", null, "Security protocols in preference order, comma-separated: noise, tls (default noise)");
        public readonly Option<bool?> Noise = new("-noise") { Description = "p2pd form: -noise[=true|false] adds or removes noise" };
        public readonly Option<bool?> Tls = new("-tls") { Description = "p2pd form: -tls[=true|false] adds or removes tls" };
        public readonly Option<string[]> Muxer = List("--muxer", "-muxer", "Stream muxers in preference order (yamux)");
        public readonly Option<bool> Relay = new("--relay", "-relay") { Description = "Serve as a circuit relay v2 hop (relayed dials and connections work without it)" };
        public readonly Option<bool> ConnManager = new("--conn-manager", "-connManager") { Description = "Use the watermarks below for the connection manager" };
        public readonly Option<int> ConnLo = new("--conn-lo", "-connLo") { Description = "Connection manager low watermark", DefaultValueFactory = _ => 256 };
        public readonly Option<int> ConnHi = new("--conn-hi", "-connHi") { Description = "Connection manager high watermark", DefaultValueFactory = _ => 512 };
        public readonly Option<string> ConnGrace = new("--conn-grace", "-connGrace")
        {
            Description = "Connection manager grace period, e.g. 120s",
            DefaultValueFactory = _ => "120s",
        };
        public readonly Option<bool> Bootstrap = new("--bootstrap", "-b") { Description = "Connect to the bootstrap peers at start (and bootstrap the DHT)" };
        public readonly Option<string[]> BootstrapPeers = AddressList("--bootstrap-peers", "-bootstrapPeers", "Bootstrap peers (with /p2p/ID), comma-separated");
        public readonly Option<bool> Quiet = new("--quiet", "-q") { Description = "Print nothing on start" };
        public readonly Option<LogLevel> LogLevel = new("--log-level")
        {
            Description = "Least severe log messages shown on stderr",
            DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Warning,
        };
        public readonly Option<bool> AllowRemoteControl = new("--allow-remote-control")
        {
            Description = "Allow a TCP control socket on a non-loopback address (the control protocol has no authentication)",
        };
        public readonly Option<bool> PrintCapabilities = new("--capabilities")
        {
            Description = "Print what this build offers (transports, security, muxers, pubsub routers, DHT, relay) as JSON and exit",
        };

        public IEnumerable<Option> All =>
        [
            Listen, Id, HostAddrs, AnnounceAddrs, NoListen, Dht, DhtServer, DhtClient, PubSub, PubSubRouter, PubSubSign,
            HeartbeatInterval, HeartbeatInitialDelay, Security, Noise, Tls, Muxer, Relay, ConnManager, ConnLo, ConnHi, ConnGrace,
            Bootstrap, BootstrapPeers, Quiet, LogLevel, AllowRemoteControl, PrintCapabilities,
        ];

        private static Option<string[]> AddressList(string name, string alias, string description) => List(name, alias, description);

        private static Option<string[]> List(string name, string? alias, string description)
        {
            var option = alias is null ? new Option<string[]>(name) : new Option<string[]>(name, alias);
            option.Description = description;
            option.AllowMultipleArgumentsPerToken = false;
            option.DefaultValueFactory = _ => [];
            return option;
        }
    }

    public static Command Create(CommandContextFactory contexts)
    {
        var flags = new Flags();
        var command = new Command("daemon", "Run a libp2p daemon controlled through go-libp2p-daemon's control protocol (p2pd-compatible flags)");
        foreach (var option in flags.All) command.Options.Add(option);
        command.SetAction((parse, cancellationToken) => RunAsync(contexts.Create(parse), flags, parse, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext context, Flags flags, ParseResult parse, CancellationToken cancellationToken)
    {
        var output = context.Output;
        if (parse.GetValue(flags.PrintCapabilities))
        {
            var capabilities = new Capabilities(DaemonCapabilities.Transports, DaemonCapabilities.Security, DaemonCapabilities.Muxers,
                DaemonCapabilities.PubSubRouters, DaemonCapabilities.Dht, DaemonCapabilities.Relay);
            output.Out.WriteLine(JsonSerializer.Serialize(capabilities, CliOutput.JsonOptions));
            return ExitCodes.Success;
        }
        var settings = Settings(flags, parse);
        var options = new DaemonOptions
        {
            ControlAddress = Address(parse.GetValue(flags.Listen)!, "--listen"),
            AllowNonLoopbackControl = parse.GetValue(flags.AllowRemoteControl),
        };
        if (parse.GetValue(flags.Id) is { } keyPath)
        {
            try
            {
                settings.Identity = DaemonKeyFile.Load(keyPath, Passphrase.FromEnvironment());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                throw new CliException($"cannot read the key file {keyPath}: {e.Message}", ExitCodes.Usage, e);
            }
        }

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "synaptic-mesh-daemon" });
        ConfigureLogging(builder.Logging, parse.GetValue(flags.LogLevel));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = SynapticMeshCli.ShutdownGrace);
        try
        {
            builder.Services.AddP2PDaemon(settings, options);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message, ExitCodes.Usage, e);
        }
        using var app = builder.Build();
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            throw new CliException($"the daemon could not start: {e.Message}", inner: e);
        }
        try
        {
            var host = app.Services.GetRequiredService<IPeerHost>();
            var control = app.Services.GetRequiredService<DaemonControlServer>();
            var addresses = host.AdvertisedAddresses.Count > 0 ? host.AdvertisedAddresses : host.ListenAddresses;
            var started = new DaemonStarted(control.ListenAddress!.ToString(), host.PeerId.ToString(), [.. addresses.Select(a => a.ToString())]);
            if (!parse.GetValue(flags.Quiet)) output.ResultLine(started, text => Print(text, started));
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        finally
        {
            using var grace = new CancellationTokenSource(SynapticMeshCli.ShutdownGrace);
            await app.StopAsync(grace.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        return ExitCodes.Success;
    }

    private static DaemonNodeSettings Settings(Flags flags, ParseResult parse)
    {
        var settings = new DaemonNodeSettings
        {
            NoListen = parse.GetValue(flags.NoListen),
            PubSub = parse.GetValue(flags.PubSub),
            PubSubSign = parse.GetValue(flags.PubSubSign),
            Relay = parse.GetValue(flags.Relay),
            ConnManager = parse.GetValue(flags.ConnManager),
            ConnLow = parse.GetValue(flags.ConnLo),
            ConnHigh = parse.GetValue(flags.ConnHi),
            ConnGrace = Duration(parse.GetValue(flags.ConnGrace)!, "--conn-grace"),
            Bootstrap = parse.GetValue(flags.Bootstrap),
        };
        var hostAddresses = Addresses(parse.GetValue(flags.HostAddrs), "--host-addrs");
        if (hostAddresses.Count > 0)
        {
            settings.HostAddresses.Clear();
            settings.HostAddresses.AddRange(hostAddresses);
        }
        settings.AnnounceAddresses.AddRange(Addresses(parse.GetValue(flags.AnnounceAddrs), "--announce-addrs"));
        settings.BootstrapPeers.AddRange(Addresses(parse.GetValue(flags.BootstrapPeers), "--bootstrap-peers"));
        if (parse.GetValue(flags.DhtClient)) settings.Dht = DhtMode.Client;
        if (parse.GetValue(flags.Dht) || parse.GetValue(flags.DhtServer)) settings.Dht = DhtMode.Server;
        settings.PubSubRouter = parse.GetValue(flags.PubSubRouter) switch
        {
            "gossipsub" => PubSubRouter.GossipSub,
            "floodsub" => PubSubRouter.FloodSub,
            var other => throw new CliException($"--pubsub-router: unknown router '{other}' (gossipsub or floodsub)", ExitCodes.Usage),
        };
        if (parse.GetValue(flags.HeartbeatInterval) is { } interval) settings.GossipSubHeartbeatInterval = Duration(interval, "--gossipsub-heartbeat-interval");
        if (parse.GetValue(flags.HeartbeatInitialDelay) is { } delay) settings.GossipSubHeartbeatInitialDelay = Duration(delay, "--gossipsub-heartbeat-initial-delay");

        var security = Split(parse.GetValue(flags.Security));
        if (security.Count > 0)
        {
            settings.Security.Clear();
            settings.Security.AddRange(security);
        }
        Toggle(settings.Security, "noise", parse.GetValue(flags.Noise));
        Toggle(settings.Security, "tls", parse.GetValue(flags.Tls));
        var muxers = Split(parse.GetValue(flags.Muxer));
        if (muxers.Count > 0)
        {
            settings.Muxers.Clear();
            settings.Muxers.AddRange(muxers);
        }
        return settings;
    }

    private static void Toggle(List<string> list, string name, bool? enabled)
    {
        if (enabled == true && !list.Contains(name)) list.Add(name);
        if (enabled == false) list.Remove(name);
    }

    private static List<string> Split(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct()];

    private static List<Multiaddr> Addresses(string[]? values, string flag) => [.. Split(values).Select(v => Address(v, flag))];

    private static Multiaddr Address(string text, string flag) =>
        Multiaddr.TryParse(text, out var address) ? address : throw new CliException($"{flag}: '{text}' is not a multiaddr", ExitCodes.Usage);

    private static TimeSpan Duration(string text, string flag)
    {
        try
        {
            return GoDuration.Parse(text);
        }
        catch (FormatException e)
        {
            throw new CliException($"{flag}: {e.Message}", ExitCodes.Usage, e);
        }
    }

    private static void ConfigureLogging(ILoggingBuilder logging, LogLevel level)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        // Logs go to stderr: stdout carries only the start lines.
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(level);
        if (level > LogLevel.Debug)
        {
            logging.AddFilter("Microsoft", LogLevel.Warning);
            // A start failure is reported as one line by the command; the host's own log of it carries a stack trace.
            logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        }
    }

    // The lines p2pd prints, so tools that wait for "Control socket:" work unchanged.
    private static void Print(TextWriter text, DaemonStarted started)
    {
        text.WriteLine($"Control socket: {started.ControlSocket}");
        text.WriteLine($"Peer ID: {started.PeerId}");
        text.WriteLine("Peer Addrs:");
        foreach (string address in started.Addresses) text.WriteLine(address);
    }
}
