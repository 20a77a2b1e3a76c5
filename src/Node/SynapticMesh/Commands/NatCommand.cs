using System.CommandLine;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using AddressScope = P2PStack.Nat.AddressScope;
using NatTraversalCounts = P2PStack.Nat.NatTraversalCounts;
using NatTraversalMetrics = P2PStack.Nat.NatTraversalMetrics;
using NatTraversalPath = P2PStack.Nat.NatTraversalPath;
using P2PStack.Nat.AutoNat;
using P2PStack.Nat.Dcutr;
using P2PStack.Nat.Relay;
using P2PStack.Nat.Stun;
using P2PStack.Network;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p nat &lt;peer id|multiaddr&gt; --method auto|stun|turn [--json]</c>: reach a peer across NATs.
/// <c>turn</c> connects through a relay (circuit relay v2 is libp2p's TURN); <c>stun</c> reports the public UDP mapping
/// and NAT type (RFC 5780) and then connects through a relay and waits for the DCUtR hole punch; <c>auto</c> uses a
/// direct connection when one can be had, else the relay and the hole punch, else stays relayed.
/// </summary>
public static class NatCommand
{
    public sealed record NatRequest(string Target, string Method, IReadOnlyList<string>? StunServers = null, double? HolePunchTimeoutSeconds = null);

    /// <param name="Path">"direct" or "relayed": the connection the peer is reached over at the end.</param>
    /// <param name="NatType">This node's NAT as STUN classified it (<c>--method stun</c>), else null.</param>
    /// <param name="PublicAddresses">This node's public addresses: observed, verified by AutoNAT, mapped by STUN.</param>
    /// <param name="HolePunchMs">Time from the relayed connection to the direct one, when a hole punch made it.</param>
    /// <param name="Attempts">DCUtR rounds (CONNECT/SYNC) the hole punch took; 0 when none ran.</param>
    /// <param name="Relay">The relay of the relayed connection (its address with /p2p), if one was used.</param>
    /// <param name="Traversals">This node's outcomes of the method since start, this one included, and their rates
    /// (the NAT traversal success rate; <c>p2pstack_nat_traversals_total</c> in the metrics).</param>
    public sealed record NatResponse(string Method, string Path,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? NatType,
        IReadOnlyList<string> PublicAddresses,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? HolePunchMs,
        int Attempts,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Relay,
        string PeerId, string RemoteAddress, string Reachability, string? HolePunch, NatTraversalCounts? Traversals = null);

    public static readonly string[] Methods = ["auto", "stun", "turn"];

    public static Command Create(CommandContextFactory contexts)
    {
        var target = new Argument<string>("target") { Description = "Peer id or multiaddr (a /p2p-circuit address names the relay)" };
        var method = new Option<string>("--method") { Description = "auto (direct, else hole punch, else relayed), stun (NAT type, then hole punch) or turn (relayed)", DefaultValueFactory = _ => "auto" };
        method.AcceptOnlyFromAmong(Methods);
        var stun = new Option<string[]>("--stun-server") { Description = "STUN server host:port (repeatable; default: the config's stunServers)" };
        var wait = new Option<double>("--hole-punch-timeout") { Description = "Seconds to wait for the hole punch on a relayed connection", DefaultValueFactory = _ => 30 };
        var command = new Command("nat", "Reach a peer across NATs: relay, STUN, DCUtR hole punching") { target, method, stun, wait };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string peer = parse.GetValue(target)!;
            PeerTargets.Validate(peer, allowPeerId: true);
            var servers = parse.GetValue(stun) ?? [];
            foreach (string server in servers)
            {
                if (!StunServerEndpoint.TryParse(server, out _)) throw new CliException($"STUN server '{server}' is not host:port", ExitCodes.Usage);
            }
            if (parse.GetValue(wait) is <= 0 or > 600) throw new CliException("--hole-punch-timeout must be between 0 and 600 seconds", ExitCodes.Usage);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<NatRequest, NatResponse>("v1/nat",
                new NatRequest(peer, parse.GetValue(method)!, servers.Length > 0 ? servers : null, parse.GetValue(wait)), cancellationToken);
            context.Output.Result(result, text => Print(text, result));
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Print(TextWriter text, NatResponse result)
    {
        text.WriteLine($"{result.PeerId}: {result.Path} ({result.Method})");
        text.WriteLine($"  remote address: {result.RemoteAddress}");
        if (result.Relay is { } relay) text.WriteLine($"  relay:          {relay}");
        if (result.HolePunch is { } punch)
            text.WriteLine($"  hole punch:     {punch}, {result.Attempts} attempt(s){(result.HolePunchMs is { } ms ? $", direct after {ms:0} ms" : "")}");
        text.WriteLine($"  reachability:   {result.Reachability}{(result.NatType is { } type ? $", NAT type {type}" : "")}");
        foreach (var address in result.PublicAddresses) text.WriteLine($"  public address: {address}");
        if (result.Traversals is { } counts) text.WriteLine($"  traversals:     {Describe(counts)} ({result.Method}, since start)");
    }

    /// <summary>"12 direct, 3 relayed, 1 failed: success 94%, direct 75%".</summary>
    internal static string Describe(NatTraversalCounts counts) => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"{counts.Direct} direct, {counts.Relayed} relayed, {counts.Failed} failed: success {counts.SuccessRate:0%}, direct {counts.DirectRate:0%}");

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/nat", async (NatRequest request, IServiceProvider services, HttpContext http) =>
        {
            using var scope = ControlApi.OperationScope(http);
            return await RunAsync(services, request, scope.Token);
        });

    public static async Task<NatResponse> RunAsync(IServiceProvider services, NatRequest request, CancellationToken cancellationToken)
    {
        if (!Methods.Contains(request.Method)) throw new ApiException(400, $"method must be one of {string.Join(", ", Methods)}");
        var host = services.GetRequiredService<IPeerHost>();
        var (peer, address) = ParseTarget(host, request.Target);
        // Every request that gets this far is a traversal: its outcome counts (the NAT traversal success rate), unless
        // the caller went away or the request could not run here (a 4xx: no STUN server configured, say).
        var traversals = services.GetService<NatTraversalMetrics>();
        NatResponse response;
        try
        {
            response = await TraverseAsync(services, host, request, peer, address, cancellationToken);
        }
        catch (Exception e) when (e is not ApiException { Status: < 500 } && !cancellationToken.IsCancellationRequested)
        {
            traversals?.Record(request.Method, NatTraversalPath.Failed);
            throw;
        }
        if (traversals is null) return response;
        traversals.Record(request.Method, response.Path == "direct" ? NatTraversalPath.Direct : NatTraversalPath.Relayed);
        return response with { Traversals = traversals.Counts(request.Method) };
    }

    private static async Task<NatResponse> TraverseAsync(IServiceProvider services, IPeerHost host, NatRequest request, PeerId peer,
        Multiaddr? address, CancellationToken cancellationToken)
    {
        var publicAddresses = PublicAddresses(host).ToList();
        string? natType = null;
        if (request.Method == "stun")
        {
            var report = await DiscoverNatAsync(services, request.StunServers, cancellationToken);
            natType = report.TypeName;
            if (report.Mapped is { } mapped)
            {
                string ip = mapped.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "ip4";
                publicAddresses.Add($"/{ip}/{mapped.Address}/udp/{mapped.Port}");
            }
        }
        NatResponse Answer(IConnection connection, double? holePunchMs = null, int attempts = 0, string? holePunch = null) =>
            new(request.Method, connection.IsDirect ? "direct" : "relayed", natType, publicAddresses, holePunchMs, attempts,
                connection.IsDirect ? null : RelayOf(connection)?.ToString(), peer.ToString(), connection.RemoteAddress.ToString(),
                NodeReachability(services).ToString().ToLowerInvariant(), holePunch);

        if (request.Method == "turn") return Answer(await DialRelayedAsync(services, host, peer, address, cancellationToken));

        var dcutr = services.GetService<DcutrService>();
        var timeout = TimeSpan.FromSeconds(request.HolePunchTimeoutSeconds ?? 30);
        if (Direct(host, peer) is { } existing)
        {
            // It may be a hole punch's, one that just ran by itself (a relayed connection another part of the node
            // opened, Kademlia's say, made the peer start DCUtR): say so once DCUtR is done with the peer.
            var clock0 = Stopwatch.StartNew();
            while (dcutr is not null && (dcutr.Running(peer) is not null || dcutr.IsResponding(peer)) && clock0.Elapsed < timeout)
                await Task.Delay(100, cancellationToken);
            return dcutr?.LastResult(peer) is { Success: true } made && ReferenceEquals(made.Direct, existing)
                ? Answer(existing, made.Elapsed.TotalMilliseconds, made.Attempts, made.Reason)
                : Answer(existing);
        }
        if (request.Method == "auto" && (address is null || !AddressScope.IsRelayed(address)))
        {
            var direct = await TryDialDirectAsync(host, peer, address, services, cancellationToken);
            if (direct is not null) return Answer(direct);
        }
        var before = dcutr?.LastResult(peer);
        var relayed = await DialRelayedAsync(services, host, peer, address, cancellationToken);
        if (dcutr is null) return Answer(relayed, holePunch: "off (the node runs with --nat off)");
        var clock = Stopwatch.StartNew();
        // The peer that accepted the relayed connection starts DCUtR (the spec's roles); we answer it and see the result.
        while (true)
        {
            var last = dcutr.LastResult(peer);
            bool running = dcutr.Running(peer) is not null || dcutr.IsResponding(peer);
            bool finished = !ReferenceEquals(last, before) && !running;
            // A hole punch's direct connection registers before DCUtR ends its rounds' bookkeeping: wait for the
            // result (within the timeout) so that the rounds and time reported are the hole punch's.
            if (Direct(host, peer) is { } direct && (!running || clock.Elapsed > timeout))
            {
                var punch = finished ? last : null;
                return Answer(direct, punch?.Elapsed.TotalMilliseconds ?? clock.Elapsed.TotalMilliseconds, punch?.Attempts ?? 0,
                    punch?.Reason ?? "direct_dial");
            }
            if (finished && last is { Success: false }) return Answer(relayed, null, last.Attempts, last.Reason);
            if (clock.Elapsed > timeout || relayed.Completion.IsCompleted)
                return Answer(relayed, null, 0, relayed.Completion.IsCompleted ? "relayed connection closed" : "no hole punch within the timeout");
            await Task.Delay(100, cancellationToken);
        }
    }

    private static (PeerId Peer, Multiaddr? Address) ParseTarget(IPeerHost host, string? target)
    {
        if (string.IsNullOrWhiteSpace(target)) throw new ApiException(400, "no target given");
        if (PeerId.TryParse(target, out var peer))
        {
            if (peer == host.PeerId) throw new ApiException(400, "that is this node's own peer id");
            return (peer, null);
        }
        Multiaddr address;
        try
        {
            address = Multiaddr.Parse(target);
        }
        catch (P2PStack.P2PFormatException e)
        {
            throw new ApiException(400, $"invalid multiaddr '{target}': {e.Message}", e);
        }
        var id = address.GetPeerId() ?? throw new ApiException(400, $"{address} needs /p2p/<peer id> at the end");
        if (id == host.PeerId) throw new ApiException(400, "that is this node's own peer id");
        return (id, address);
    }

    private static IConnection? Direct(IPeerHost host, PeerId peer) =>
        host.GetConnections(peer).FirstOrDefault(c => c.IsDirect && !c.Completion.IsCompleted);

    private static async Task<IConnection?> TryDialDirectAsync(IPeerHost host, PeerId peer, Multiaddr? address, IServiceProvider services,
        CancellationToken cancellationToken)
    {
        var options = new DialOptions
        {
            ForceDirect = true,
            // Off the listen port: a failed attempt there would leave NAT state that spoils the hole punch after it.
            FromEphemeralPort = true,
            Timeout = services.GetService<IOptions<DcutrOptions>>()?.Value.UnilateralDialTimeout ?? TimeSpan.FromSeconds(5),
        };
        try
        {
            return address is null
                ? await host.DialAsync(peer, options, cancellationToken)
                : await host.DialAsync(address, options, cancellationToken);
        }
        catch (Exception e) when (e is DialFailedException or IOException or TimeoutException or P2PStack.Network.ConnectionGatedException
            or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return null; // not reachable directly: relay and hole punch
        }
    }

    /// <summary>A relayed connection to the peer: an existing one, the circuit address given, circuit addresses the
    /// peer store knows, or circuits through the relays this node is configured with or holds reservations on.</summary>
    private static async Task<IConnection> DialRelayedAsync(IServiceProvider services, IPeerHost host, PeerId peer, Multiaddr? address,
        CancellationToken cancellationToken)
    {
        var existing = host.GetConnections(peer).FirstOrDefault(c => !c.IsDirect && !c.Completion.IsCompleted);
        if (existing is not null && (address is null || !AddressScope.IsRelayed(address))) return existing;
        var candidates = new List<Multiaddr>();
        if (address is not null && AddressScope.IsRelayed(address)) candidates.Add(address!);
        candidates.AddRange(host.PeerStore.GetAddresses(peer).Where(AddressScope.IsRelayed).Select(a => WithPeer(a, peer)));
        var config = services.GetService<NodeConfig>();
        var relays = (config?.RelayAddresses ?? []).Concat(
            services.GetService<RelayReservationManager>()?.Reservations.SelectMany(r => r.Addresses.Take(1)
                .Select(a => a.GetPeerId() is null ? a.Encapsulate($"/p2p/{r.Relay}") : a)) ?? []);
        foreach (var relay in relays)
        {
            if (relay.GetPeerId() is { } relayId && relayId != peer) candidates.Add(relay.Encapsulate($"/p2p-circuit/p2p/{peer}"));
        }
        if (candidates.Count == 0)
            throw new ApiException(502, $"no relay path to {peer}: give its /p2p-circuit address, or configure a relay it also uses (p2p init --relay)");
        // A dial to a peer we already reach directly would return that connection: ask for a new (relayed) one.
        var options = new DialOptions { AllowLimited = true, ForceNewConnection = Direct(host, peer) is not null };
        var errors = new List<string>();
        foreach (var candidate in candidates.Distinct())
        {
            try
            {
                var connection = await host.DialAsync(candidate, options, cancellationToken);
                if (!connection.IsDirect) return connection;
            }
            catch (Exception e) when (e is DialFailedException or IOException or TimeoutException or P2PStack.Network.ConnectionGatedException
                or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                errors.Add($"{candidate}: {e.Message}");
            }
        }
        throw new ApiException(502, $"no relay reached {peer}: {string.Join("; ", errors)}");
    }

    private static Multiaddr WithPeer(Multiaddr address, PeerId peer) => address.GetPeerId() is null ? address.Encapsulate($"/p2p/{peer}") : address;

    /// <summary>The relay part of a relayed connection's address: <c>[relay address]/p2p/RELAY</c>.</summary>
    private static Multiaddr? RelayOf(IConnection connection) =>
        AddressScope.IsRelayed(connection.RemoteAddress) ? connection.RemoteAddress.DecapsulateCode(MultiaddrProtocols.P2PCircuit.Code) : null;

    private static IEnumerable<string> PublicAddresses(IPeerHost host) =>
        host.AddressManager.ObservedAddresses.Concat(host.AddressManager.AdvertisedAddresses)
            .Where(AddressScope.IsPublic).Select(a => a.ToString()).Distinct(StringComparer.Ordinal);

    private static Reachability NodeReachability(IServiceProvider services) =>
        services.GetService<AutoNatService>()?.Reachability ?? P2PStack.Network.Reachability.Unknown;

    private static async Task<NatBehaviourReport> DiscoverNatAsync(IServiceProvider services, IReadOnlyList<string>? requested,
        CancellationToken cancellationToken)
    {
        IReadOnlyList<string> servers = requested is { Count: > 0 }
            ? requested
            : [.. services.GetRequiredService<IOptions<StunClientOptions>>().Value.Servers];
        if (servers.Count == 0)
            throw new ApiException(400, "no STUN server: give --stun-server host:port, or set stunServers in config.json (p2p init --stun-server)");
        var discovery = services.GetRequiredService<NatBehaviourDiscovery>();
        var errors = new List<string>();
        foreach (string server in servers)
        {
            try
            {
                var endpoint = await StunClientOptions.ResolveAsync(server, cancellationToken);
                return await discovery.DiscoverAsync(endpoint, 0, cancellationToken);
            }
            catch (Exception e) when (e is IOException or SocketException or TimeoutException or P2PStack.P2PFormatException or ArgumentException)
            {
                errors.Add($"{server}: {e.Message}");
            }
        }
        throw new ApiException(502, $"no STUN server answered: {string.Join("; ", errors)}");
    }
}
