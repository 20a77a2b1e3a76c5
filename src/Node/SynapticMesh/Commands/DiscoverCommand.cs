using System.CommandLine;
using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Discovery;
using P2PStack.Discovery.Mdns;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia;
using P2PStack.Registry;
using P2PStack.Trust;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Home;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p discover --method kademlia|mdns|registry [--count N] [--timeout SECONDS]</c>: lists peers found by a discovery
/// method. <c>kademlia</c> lists the DHT routing table, first running random-walk lookups while it holds fewer than
/// N peers; <c>mdns</c> sends an mDNS query and collects the answers until N peers answered or the time is up;
/// <c>registry</c> reads the active nodes of the registry the node was started with (<c>p2p start --registry</c>).
/// <c>rendezvous</c> asks rendezvous points for registrations (<c>--namespace NS</c>, <see cref="RendezvousDiscovery"/>).
/// Peers found this way also reach the peer store (and, once dialed, the DHT routing table).
/// </summary>
public static class DiscoverCommand
{
    /// <param name="Namespace">For rendezvous: the namespace asked for (null: every namespace).</param>
    /// <param name="Points">For rendezvous: the points to ask (null: the configured ones).</param>
    public sealed record DiscoverRequest(string Method, int Count, double TimeoutSeconds, string? Namespace = null, IReadOnlyList<string>? Points = null);

    public sealed record DiscoverResponse(string Method, IReadOnlyList<DiscoveredPeer> Peers);

    /// <param name="LatencyMs">The latest round trip to the peer, when one was measured.</param>
    public sealed record DiscoveredPeer(string PeerId, IReadOnlyList<string> Addresses, string Source, double? LatencyMs);

    public static Command Create(CommandContextFactory contexts)
    {
        var method = new Option<string>("--method")
        {
            Description = "kademlia (DHT routing table, random walk), mdns (local network), registry (active nodes of the registry given to p2p start --registry) or rendezvous (registrations at rendezvous points)",
            Required = true,
        };
        method.AcceptOnlyFromAmong("kademlia", "mdns", "registry", "rendezvous");
        var ns = new Option<string?>("--namespace") { Description = "rendezvous: the namespace to discover (default: every namespace)", HelpName = "ns" };
        var points = new Option<string[]>("--rendezvous") { Description = "rendezvous: point multiaddr ending in /p2p/ID (repeatable; default: config's rendezvous.points)", HelpName = "address" };
        var count = new Option<int>("--count") { Description = "Peers wanted", DefaultValueFactory = _ => 20 }
            .Check(n => n is >= 1 and <= 1000, "--count must be 1 to 1000");
        var timeout = new Option<double>("--timeout") { Description = "Seconds to search at most", DefaultValueFactory = _ => 10 }
            .Check(s => s is > 0 and <= 600, "--timeout must be more than 0 and at most 600 seconds");
        var command = new Command("discover", "Find peers through the DHT, mDNS, the registry or rendezvous points") { method, count, timeout, ns, points };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var request = new DiscoverRequest(parse.GetValue(method)!, parse.GetValue(count), parse.GetValue(timeout), parse.GetValue(ns),
                parse.GetValue(points) is { Length: > 0 } p ? p : null);
            if (request.Method != "rendezvous" && (request.Namespace is not null || request.Points is not null))
                throw CliException.Usage("--namespace and --rendezvous go with --method rendezvous");
            using var client = ControlClient.Open(context);
            DiscoverResponse result;
            await using (context.Output.Progress($"discovering peers via {request.Method} (up to {request.Count}, {request.TimeoutSeconds:0.#} s)"))
                result = await client.PostAsync<DiscoverRequest, DiscoverResponse>("v1/discover", request, cancellationToken);
            context.Output.Table(result, () => PeerTable(result.Peers),
                $"{result.Peers.Count} peer{(result.Peers.Count == 1 ? "" : "s")} found via {result.Method}");
            if (result.Peers.Count == 0 && !context.Output.Json) context.Output.Notice($"no peer found via {result.Method}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Table PeerTable(IEnumerable<DiscoveredPeer> peers)
    {
        var table = new Table("PEER ID", "ADDRESSES", "SOURCE", "LATENCY");
        foreach (var peer in peers)
            table.AddLines([peer.PeerId], peer.Addresses, [peer.Source], [peer.LatencyMs is { } ms ? $"{ms:0.###} ms" : "-"]);
        return table;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/discover", async (DiscoverRequest request, IPeerHost host, IServiceProvider services, HttpContext http) =>
        {
            if (request.Count is < 1 or > 1000) throw ApiException.BadRequest("count must be 1 to 1000");
            if (request.TimeoutSeconds is not (> 0 and <= 600)) throw ApiException.BadRequest("timeout must be more than 0 and at most 600 seconds");
            using var scope = ControlApi.OperationScope(http);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(scope.Token);
            deadline.CancelAfter(TimeSpan.FromSeconds(request.TimeoutSeconds));
            var found = request.Method switch
            {
                "kademlia" => await KademliaAsync(host, services.GetRequiredService<KademliaDht>(), request.Count, deadline.Token, scope.Token),
                "mdns" => await MdnsAsync(host, services.GetService<MdnsDiscovery>(), services.GetService<NodeConfig>(), request.Count, deadline.Token,
                    scope.Token),
                "registry" => await RegistryAsync(services.GetService<RegistryAgentSlot>()?.Agent, request.Count, deadline.Token, scope.Token),
                "rendezvous" => await RendezvousDiscovery.DiscoverAsync(host, services, request, deadline.Token, scope.Token),
                _ => throw ApiException.BadRequest($"unknown discovery method '{request.Method}' (kademlia, mdns, registry or rendezvous)"),
            };
            var window = services.GetService<LatencyWindow>();
            return new DiscoverResponse(request.Method, [.. found.Select(p => new DiscoveredPeer(p.Peer.ToString(),
                [.. p.Addresses.Select(a => a.ToString())], request.Method,
                (window?.Get(p.Peer)?.Current ?? host.PeerStore.GetLatency(p.Peer)?.Current)?.TotalMilliseconds))]);
        });

    private static async Task<IReadOnlyList<PeerInfo>> KademliaAsync(IPeerHost host, KademliaDht dht, int count, CancellationToken deadline,
        CancellationToken request)
    {
        // Random walk: each lookup of a random key meets (and adds to the table) the peers closest to it.
        while (dht.RoutingTable.Count < count && !deadline.IsCancellationRequested)
        {
            int before = dht.RoutingTable.Count;
            try
            {
                await dht.GetClosestPeersAsync(RandomNumberGenerator.GetBytes(32), deadline);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !request.IsCancellationRequested)
            {
                break; // the time is up: list what the table holds
            }
            catch (DhtNoPeersException)
            {
                throw ApiException.NotFound("the DHT routing table is empty: connect to a peer that serves the node's DHT protocol, "
                    + "or configure bootstrap peers (p2p init --bootstrap)");
            }
            if (dht.RoutingTable.Count == before) break; // the walk finds nobody new: the network is this small
        }
        return [.. dht.RoutingTable.NearestPeers(dht.RoutingTable.LocalKey, count).Select(p => new PeerInfo(p, host.PeerStore.GetAddresses(p)))];
    }

    private static async Task<IReadOnlyList<PeerInfo>> RegistryAsync(RegistryAgent? agent, int count, CancellationToken deadline,
        CancellationToken request)
    {
        if (agent is null)
            throw new ApiException(ApiException.StatusCodes.Conflict,
                "this node was started without a registry: start it with `p2p start --registry URL` (and have a sovereign approve it)");
        try
        {
            var found = await agent.DiscoverNowAsync(deadline);
            return [.. found.Take(count).Select(n => new PeerInfo(n.Peer, n.Addresses))];
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !request.IsCancellationRequested)
        {
            throw new ApiException(ApiException.StatusCodes.GatewayTimeout, $"the registry {agent.RegistryUrl} did not answer in time");
        }
        catch (RegistryRequestException e)
        {
            throw new ApiException(ApiException.StatusCodes.BadGateway, $"the registry {agent.RegistryUrl} refused ({e.Status}): {ErrorText.Of(e)}");
        }
        catch (HttpRequestException e)
        {
            throw new ApiException(ApiException.StatusCodes.BadGateway, $"cannot reach the registry {agent.RegistryUrl}: {ErrorText.Of(e)}");
        }
    }

    private static async Task<IReadOnlyList<PeerInfo>> MdnsAsync(IPeerHost host, MdnsDiscovery? mdns, NodeConfig? config, int count,
        CancellationToken deadline, CancellationToken request)
    {
        if (mdns is null)
            throw new ApiException(ApiException.StatusCodes.Conflict,
                "mDNS is off on this node: enable it with `p2p init --mdns on` (or \"mdns\": {\"enabled\": true} in config.json) and restart it");
        if (!mdns.IsRunning) throw new ApiException(ApiException.StatusCodes.Conflict, "mDNS is not running on this node: no interface could join the multicast group");
        // mDNS answers are unsigned: from the signed level up the trust policy refuses every one (the node still
        // answers others' queries). Say so rather than wait for answers that cannot count.
        if (config is not null && config.SecurityLevel >= SecurityLevel.Signed)
            throw new ApiException(ApiException.StatusCodes.Forbidden,
                $"mDNS answers are not signed, and this node's security level ({config.SecurityLevel.ToName()}) uses only signed peer records: "
                + "use signed LAN announcements (`p2p init --lan-discovery`), or the development level (`p2p security init --level development`)");
        var answers = Channel.CreateBounded<PeerDiscovered>(new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest });
        using var subscription = host.Events.Subscribe<PeerDiscovered>(e =>
        {
            if (e.Source == MdnsDiscovery.Source) answers.Writer.TryWrite(e);
        });
        mdns.QueryNow();
        var found = new Dictionary<PeerId, PeerInfo>();
        try
        {
            while (found.Count < count)
            {
                var answer = await answers.Reader.ReadAsync(deadline);
                found[answer.Peer] = new PeerInfo(answer.Peer, answer.Addresses);
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !request.IsCancellationRequested)
        {
            // The time is up: what answered is the result.
        }
        return [.. found.Values];
    }
}
