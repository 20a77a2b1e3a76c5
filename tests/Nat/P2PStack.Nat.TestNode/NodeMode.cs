using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Nat.AutoNat;
using P2PStack.Nat.Relay;
using P2PStack.Network;

namespace P2PStack.Nat.TestNode;

/// <summary>
/// <c>node [--listen ma]... [--reuse-port] [--relay-service] [--autonat] [--autonat-client] [--allow-private]
/// [--confirmations n] [--port-mapping Upnp|Pcp|NatPmp|All]</c>: a P2PStack node with the NAT modules, driven over JSON lines on stdin/stdout like the js
/// test peers (one ready line, then one answer per command; closing stdin stops it). Logs go to stderr.
/// </summary>
internal static class NodeMode
{
    public static async Task<int> RunAsync(Arguments args)
    {
        var services = new ServiceCollection();
        services.AddLogging(l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(args.Flag("verbose") ? LogLevel.Debug : LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning));
        services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        bool allowPrivate = args.Flag("allow-private");
        services.AddP2PStack(p2p =>
        {
            var listen = args.All("listen");
            p2p.ListenOn([.. listen.Count == 0 ? ["/ip4/0.0.0.0/tcp/0"] : listen]);
            p2p.AddTcpTransport(o => o.ReusePort = args.Flag("reuse-port"));
            // In the lab every observer sits in 11.0.0.0/16, one observer network: one observation must do.
            p2p.ConfigureHost(o => o.Addresses.ObservedAddressThreshold = args.Int("observed-threshold", 1));
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify().AddPing();
            p2p.AddProtocol<EchoHandler>();
            if (args.Get("port-mapping") is { } protocols)
            {
                p2p.AddPortMapping(o =>
                {
                    o.Protocols = Enum.Parse<P2PStack.Nat.PortMapping.PortMappingProtocols>(protocols);
                    o.SsdpTimeout = TimeSpan.FromSeconds(2);
                    o.Description = "P2PStack lab node";
                });
            }
            p2p.AddAutoNat(o =>
            {
                o.EnableServer = args.Flag("autonat");
                o.EnableClient = args.Flag("autonat-client");
                o.AllowPrivateAddresses = allowPrivate;
                o.Confirmations = args.Int("confirmations", 3);
                o.ProbeInterval = TimeSpan.FromSeconds(2);
            });
            p2p.AddDcutr(o =>
            {
                o.Enabled = !args.Flag("no-dcutr");
                o.AllowPrivateAddresses = allowPrivate;
            });
            p2p.AddCircuitRelay(configureClient: o =>
            {
                foreach (string relay in args.All("relay")) o.StaticRelays.Add(Multiaddr.Parse(relay));
                o.AutoRelay = args.Flag("auto-relay");
            }, configureService: o =>
            {
                o.Enabled = args.Flag("relay-service");
                o.AllowPrivateAddresses = allowPrivate;
                if (args.Get("relay-limit-data") is { } data) o.LimitData = data == "none" ? null : long.Parse(data, System.Globalization.CultureInfo.InvariantCulture);
                if (args.Get("relay-limit-seconds") is { } seconds)
                    o.LimitDuration = seconds == "none" ? null : TimeSpan.FromSeconds(double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture));
            });
        });
        await using var provider = services.BuildServiceProvider();
        var host = provider.GetRequiredService<PeerHost>();
        await host.StartAsync(CancellationToken.None);
        var hosted = provider.GetServices<IHostedService>().ToList();
        foreach (var service in hosted) await service.StartAsync(CancellationToken.None);
        var node = new Node(host, provider);
        Emit(new JsonObject
        {
            ["event"] = "ready",
            ["peerId"] = host.PeerId.ToString(),
            ["addresses"] = new JsonArray([.. host.AdvertisedAddresses.Select(a => (JsonNode)a.Encapsulate($"/p2p/{host.PeerId}").ToString())]),
            ["protocols"] = new JsonArray([.. host.Protocols.Select(p => (JsonNode)p)]),
        });
        var running = new List<Task>();
        while (await Console.In.ReadLineAsync() is { } line)
        {
            if (line.Trim().Length == 0) continue;
            JsonObject command;
            try
            {
                command = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not an object");
            }
            catch (JsonException ex)
            {
                Emit(new JsonObject { ["id"] = null, ["ok"] = false, ["error"] = $"bad command line: {ex.Message}" });
                continue;
            }
            if (command["cmd"]?.GetValue<string>() == "stop")
            {
                Emit(new JsonObject { ["id"] = command["id"]?.DeepClone(), ["ok"] = true });
                break;
            }
            running.Add(Task.Run(() => node.ServeAsync(command)));
        }
        await Task.WhenAll(running);
        foreach (var service in Enumerable.Reverse(hosted)) await service.StopAsync(CancellationToken.None);
        await host.StopAsync(CancellationToken.None);
        return 0;
    }

    private static readonly Lock OutputLock = new();

    internal static void Emit(JsonObject line)
    {
        string text = line.ToJsonString();
        lock (OutputLock)
        {
            Console.Out.WriteLine(text);
            Console.Out.Flush();
        }
    }

    /// <summary>The node's commands.</summary>
    private sealed class Node(PeerHost host, IServiceProvider services)
    {
        public async Task ServeAsync(JsonObject command)
        {
            var id = command["id"]?.DeepClone();
            int timeoutMs = command["timeoutMs"]?.GetValue<int>() ?? 60_000;
            using var timeout = new CancellationTokenSource(timeoutMs);
            try
            {
                var result = await RunAsync(command["cmd"]?.GetValue<string>() ?? "", command, timeout.Token);
                result["id"] = id;
                result["ok"] = true;
                Emit(result);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                var error = PortMappingCommands.Describe(ex);
                error["id"] = id;
                error["ok"] = false;
                Emit(error);
            }
        }

        private async Task<JsonObject> RunAsync(string cmd, JsonObject c, CancellationToken ct) => cmd switch
        {
            "info" => Info(),
            "dial" => Describe(await host.DialAsync(Multiaddr.Parse(Str(c, "addr")),
                new DialOptions { AllowLimited = c["limited"]?.GetValue<bool>() == true }, ct)),
            "addresses" => Addresses(),
            "peer-addresses" => PeerAddresses(PeerId.Parse(Str(c, "peer"))),
            "portmap-stop" => await StopPortMappingAsync(ct),
            "wait-direct" => await WaitDirectAsync(PeerId.Parse(Str(c, "peer")), ct),
            "holepunch" => Describe(await WaitHolePunchAsync(PeerId.Parse(Str(c, "peer")), ct)),
            "reservations" => new JsonObject
            {
                ["reservations"] = new JsonArray([.. services.GetRequiredService<RelayReservationManager>().Reservations.Select(r => (JsonNode)Describe(r))]),
            },
            "connections" => new JsonObject { ["connections"] = new JsonArray([.. host.GetConnections().Select(x => (JsonNode)Describe(x))]) },
            "ping" => await PingAsync(PeerId.Parse(Str(c, "peer")), ct),
            "echo" => await EchoAsync(PeerId.Parse(Str(c, "peer")), c["size"]?.GetValue<int>() ?? 1024, ct),
            "reserve" => Describe(await services.GetRequiredService<RelayClient>().ReserveAsync(PeerId.Parse(Str(c, "relay")), ct)),
            "autonat-probe" => Describe(await ProbeAsync(PeerId.Parse(Str(c, "server")), c["version"]?.GetValue<int>() ?? 2,
                c["addresses"]?.AsArray().Select(a => Multiaddr.Parse(a!.GetValue<string>())).ToList(), ct)),
            "reachability" => Reachability(),
            "autonat-round" => new JsonObject
            {
                ["results"] = new JsonArray([.. (await services.GetRequiredService<AutoNatService>().ProbeRoundAsync(ct)).Select(r => (JsonNode)Describe(r))]),
                ["reachability"] = services.GetRequiredService<AutoNatService>().Reachability.ToString(),
            },
            "relay-stats" => new JsonObject
            {
                ["reservations"] = services.GetRequiredService<RelayService>().ReservationCount,
                ["circuits"] = services.GetRequiredService<RelayService>().CircuitCount,
            },
            _ => throw new ArgumentException($"unknown cmd {cmd}"),
        };

        private JsonObject Addresses()
        {
            var manager = host.AddressManager;
            JsonArray List(IEnumerable<Multiaddr> addresses) => new([.. addresses.Select(a => (JsonNode)a.ToString())]);
            return new JsonObject
            {
                ["listen"] = List(manager.ListenAddresses),
                ["observed"] = List(manager.ObservedAddresses),
                ["relay"] = List(manager.RelayAddresses),
                ["mapped"] = List(manager.MappedAddresses),
                ["advertised"] = List(manager.AdvertisedAddresses),
            };
        }

        /// <summary>What this node learned of a peer's addresses: the peer store's, and those of its signed record.</summary>
        private JsonObject PeerAddresses(PeerId peer)
        {
            var envelope = host.PeerStore.GetPeerRecord(peer);
            var record = envelope is null ? [] : P2PStack.Records.PeerRecord.FromEnvelope(envelope).Addresses;
            return new JsonObject
            {
                ["addresses"] = new JsonArray([.. host.PeerStore.GetAddresses(peer).Select(a => (JsonNode)a.ToString())]),
                ["record"] = new JsonArray([.. record.Select(a => (JsonNode)a.ToString())]),
            };
        }

        /// <summary>Stops the port mapping service (it removes its mappings), then answers the node's addresses.</summary>
        private async Task<JsonObject> StopPortMappingAsync(CancellationToken ct)
        {
            await services.GetRequiredService<P2PStack.Nat.PortMapping.PortMappingService>().StopAsync(ct);
            return Addresses();
        }

        /// <summary>Waits until a direct connection to the peer exists.</summary>
        private async Task<JsonObject> WaitDirectAsync(PeerId peer, CancellationToken ct)
        {
            while (true)
            {
                if (host.GetConnections(peer).FirstOrDefault(x => x.IsDirect) is { } direct) return Describe(direct);
                await Task.Delay(50, ct);
            }
        }

        /// <summary>The running or last DCUtR upgrade with the peer (waits for one to be recorded).</summary>
        private async Task<P2PStack.Nat.Dcutr.HolePunchResult> WaitHolePunchAsync(PeerId peer, CancellationToken ct)
        {
            var dcutr = services.GetRequiredService<P2PStack.Nat.Dcutr.DcutrService>();
            while (true)
            {
                if (dcutr.Running(peer) is { } running) return await running.WaitAsync(ct);
                if (dcutr.LastResult(peer) is { } last) return last;
                await Task.Delay(50, ct);
            }
        }

        private JsonObject Info() => new()
        {
            ["peerId"] = host.PeerId.ToString(),
            ["listen"] = new JsonArray([.. host.ListenAddresses.Select(a => (JsonNode)a.ToString())]),
            ["advertised"] = new JsonArray([.. host.AdvertisedAddresses.Select(a => (JsonNode)a.ToString())]),
        };

        private JsonObject Reachability()
        {
            var service = services.GetRequiredService<AutoNatService>();
            var perAddress = new JsonObject();
            foreach (var (address, verdict) in service.Tracker.Addresses) perAddress[address.ToString()] = verdict.ToString();
            return new JsonObject { ["reachability"] = service.Reachability.ToString(), ["addresses"] = perAddress };
        }

        private async Task<AutoNatProbeResult> ProbeAsync(PeerId server, int version, List<Multiaddr>? addresses, CancellationToken ct)
        {
            var client = services.GetRequiredService<AutoNatClient>();
            var service = services.GetRequiredService<AutoNatService>();
            IReadOnlyList<Multiaddr> candidates = addresses is { Count: > 0 } ? addresses : service.Candidates();
            if (candidates.Count == 0) throw new InvalidOperationException("no candidate address to probe");
            var result = version == 1 ? await client.ProbeV1Async(server, candidates, ct) : await client.ProbeV2Async(server, candidates, ct);
            service.Tracker.Record(result);
            return result;
        }

        private async Task<JsonObject> PingAsync(PeerId peer, CancellationToken ct)
        {
            var rtts = await services.GetRequiredService<P2PStack.Protocols.Ping.PingService>().PingAsync(peer, 3, ct);
            return new JsonObject { ["rttMs"] = new JsonArray([.. rtts.Select(r => (JsonNode)r.TotalMilliseconds)]) };
        }

        private async Task<JsonObject> EchoAsync(PeerId peer, int size, CancellationToken ct)
        {
            var stream = await host.OpenStreamAsync(peer, [EchoHandler.Protocol], ct);
            await using (stream)
            {
                byte[] sent = System.Security.Cryptography.RandomNumberGenerator.GetBytes(size);
                var reading = Task.Run(async () =>
                {
                    var received = new System.Buffers.ArrayBufferWriter<byte>();
                    while (true)
                    {
                        var result = await stream.Input.ReadAsync(ct);
                        foreach (var segment in result.Buffer) received.Write(segment.Span);
                        stream.Input.AdvanceTo(result.Buffer.End);
                        if (result.IsCompleted) return received.WrittenSpan.ToArray();
                    }
                }, ct);
                await stream.Output.WriteAsync(sent, ct);
                await stream.Output.CompleteAsync();
                byte[] echoed = await reading;
                if (!echoed.AsSpan().SequenceEqual(sent)) throw new InvalidDataException($"echo returned {echoed.Length} different bytes");
                return new JsonObject { ["bytes"] = size, ["connection"] = Describe(stream.Connection) };
            }
        }

        private static string Str(JsonObject c, string name) => c[name]?.GetValue<string>() ?? throw new ArgumentException($"{name} is required");

        private static JsonObject Describe(IConnection connection) => new()
        {
            ["id"] = connection.Id,
            ["remotePeer"] = connection.RemotePeer.ToString(),
            ["remoteAddr"] = connection.RemoteAddress.ToString(),
            ["localAddr"] = connection.LocalAddress.ToString(),
            ["direction"] = connection.Direction.ToString(),
            ["transport"] = connection.Transport,
            ["relayed"] = AddressScope.IsRelayed(connection.RemoteAddress),
            ["direct"] = connection.IsDirect,
            ["limited"] = connection.IsLimited,
        };

        private static JsonObject Describe(P2PStack.Nat.Dcutr.HolePunchResult result) => new()
        {
            ["peer"] = result.Peer.ToString(),
            ["success"] = result.Success,
            ["reason"] = result.Reason,
            ["attempts"] = result.Attempts,
            ["elapsedMs"] = result.Elapsed.TotalMilliseconds,
        };

        private static JsonObject Describe(RelayReservation reservation) => new()
        {
            ["relay"] = reservation.Relay.ToString(),
            ["expire"] = reservation.Expire.ToUnixTimeSeconds(),
            ["addresses"] = new JsonArray([.. reservation.CircuitAddresses.Select(a => (JsonNode)a.ToString())]),
            ["voucher"] = reservation.Voucher is not null,
            ["limitSeconds"] = reservation.Limit.Duration?.TotalSeconds,
            ["limitData"] = reservation.Limit.Data,
        };

        private static JsonObject Describe(AutoNatProbeResult result) => new()
        {
            ["server"] = result.Server.ToString(),
            ["version"] = result.Version,
            ["address"] = result.Address?.ToString(),
            ["reachable"] = result.Reachable,
        };
    }
}

/// <summary><c>/echo/1.0.0</c>, as the js test peers serve it; it runs on relayed (limited) connections too, so that
/// tests can show a relayed connection carries data.</summary>
internal sealed class EchoHandler : IProtocolHandler
{
    public const string Protocol = "/echo/1.0.0";

    public IReadOnlyList<string> Protocols { get; } = [Protocol];

    public bool RunOnLimitedConnections => true;

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            await stream.Input.CopyToAsync(stream.Output, cancellationToken);
            await stream.Output.CompleteAsync();
        }
    }
}
