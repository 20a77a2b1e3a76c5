using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Identity;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Neural;
using P2PStack.Protocols.Identify;
using System.Text.Json.Serialization;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary><c>p2p status</c>: identity, listen addresses and connected peers of the running node.</summary>
public static class StatusCommand
{
    public sealed record StatusResponse(string PeerId, IReadOnlyList<string> Addresses, IReadOnlyList<string> Protocols,
        IReadOnlyList<PeerStatus> Peers, int? KnownPeers = null, NeuralStatus? Neural = null, NatStatus? Nat = null)
    {
        /// <summary>Onion circuits and relaying (with --detailed, on a node with the onion module).</summary>
        public CircuitCommand.OnionStatus? Onion { get; init; }

        /// <summary>The resource manager's scopes: usage, limits and refusals (with --resources).</summary>
        public IReadOnlyList<ResourceScopeStatus>? Resources { get; init; }
    }

    /// <summary>One resource scope (system, transient, service, protocol, peer, connection or stream): what it holds, its
    /// limits (null: none) and how many reservations it refused. <paramref name="Scopes"/> is set on the total rows of
    /// connections and streams: how many live ones they sum (their limits are each one's); only the largest few are
    /// listed one by one.</summary>
    public sealed record ResourceScopeStatus(string Kind, string Name, ResourceCounts Usage, ResourceLimitCounts Limit, long Refusals,
        int? Scopes = null);

    public sealed record ResourceCounts(int ConnectionsInbound, int ConnectionsOutbound, int StreamsInbound, int StreamsOutbound, long Memory);

    public sealed record ResourceLimitCounts(int? ConnectionsInbound, int? ConnectionsOutbound, int? Connections, int? StreamsInbound,
        int? StreamsOutbound, int? Streams, long? Memory);

    /// <summary>NAT traversal: AutoNAT's verdict, public and relay addresses, reservations held, whether we relay for others,
    /// and the traversal outcomes since start by method (<c>p2p nat</c>'s auto, stun, turn; dcutr: automatic hole
    /// punches this node initiated) with their success and direct rates.</summary>
    public sealed record NatStatus(string Mode, string Reachability, IReadOnlyList<string> PublicAddresses, IReadOnlyList<string> RelayAddresses,
        IReadOnlyList<ReservationStatus> Reservations, bool RelayService,
        IReadOnlyDictionary<string, P2PStack.Nat.NatTraversalCounts>? Traversals = null);

    public sealed record ReservationStatus(string Relay, DateTimeOffset Expire, IReadOnlyList<string> Addresses);

    /// <summary>Neural messaging counters and queue depths (with --detailed).</summary>
    public sealed record NeuralStatus(IReadOnlyDictionary<string, long> Sent, IReadOnlyDictionary<string, long> Received,
        IReadOnlyDictionary<string, long> Dropped, long Forwarded, IReadOnlyDictionary<string, int> QueueDepths, int InboundQueue,
        int PendingCommands, IReadOnlyList<string> Agents, IReadOnlyList<string> Swarms);

    /// <param name="LatencyMs">The latest round trip (null until one was measured).</param>
    public sealed record PeerStatus(string PeerId, IReadOnlyList<string> Addresses, IReadOnlyList<string> Protocols,
        string SecurityProtocol, string Muxer, string Transport, string Direction,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] double? LatencyMs,
        LatencyDetail? Latency = null, IReadOnlyList<ConnectionStatus>? Connections = null, IReadOnlyList<string>? KnownAddresses = null,
        string? AgentVersion = null, bool Limited = false);

    /// <summary>
    /// Round trips: the latest; min, mean and max of the <see cref="Samples"/> taken in the last
    /// <see cref="WindowSeconds"/> (null when none were); the exponentially weighted moving average and the count of
    /// every sample the peer store has kept.
    /// </summary>
    public sealed record LatencyDetail(double CurrentMs, double? MinMs, double? MeanMs, double? MaxMs, int Samples, double WindowSeconds,
        double? EwmaMs, long TotalSamples);

    public sealed record ConnectionStatus(string Id, string LocalAddress, string RemoteAddress, string Direction, string Transport,
        string SecurityProtocol, string Muxer, DateTimeOffset OpenedAt, int Streams);

    public static Command Create(CommandContextFactory contexts)
    {
        var detailed = new Option<bool>("--detailed") { Description = "Also show each connection, latency statistics and known addresses" };
        var resources = new Option<bool>("--resources")
        {
            Description = "Also show the resource manager's scopes (system, transient, service, protocol, peer, connection, stream): "
                + "usage, limits and refusals; connections and streams as a total each plus the largest by memory (see --top)",
        };
        var top = new Option<int>("--top")
        {
            Description = "With --resources: how many single connections and streams to list, the largest by memory (all are in the totals)",
            DefaultValueFactory = _ => ResourceScopeStat.DefaultTop,
        };
        top.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 0 or > MaxTop) result.AddError($"--top must be 0 to {MaxTop}");
        });
        var command = new Command("status", "Show the node's peer id, addresses and connected peers") { detailed, resources, top };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            bool isDetailed = parse.GetValue(detailed);
            bool withResources = parse.GetValue(resources);
            using var client = ControlClient.Open(context);
            var status = await client.GetAsync<StatusResponse>(
                $"v1/status?detailed={(isDetailed ? "true" : "false")}&resources={(withResources ? "true" : "false")}&top={parse.GetValue(top)}",
                cancellationToken);
            context.Output.Result(status, text => Print(text, status, isDetailed));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/status", (IPeerHost host, bool? detailed, bool? resources, int? top, IServiceProvider services) =>
        {
            if (top is < 0 or > MaxTop) throw ApiException.BadRequest($"top must be 0 to {MaxTop}");
            return Status(host, detailed ?? false, services.GetService<NeuralMesh>(), services.GetService<LatencyWindow>()) with
            {
                Nat = Nat(host, services),
                Onion = detailed == true ? CircuitCommand.Status(services) : null,
                Resources = resources == true && services.GetService<IResourceManager>() is { } manager
                    ? Resources(manager, top ?? ResourceScopeStat.DefaultTop)
                    : null,
            };
        });

    /// <summary>The most single connections and streams a status lists (each kind): the output stays bounded.</summary>
    public const int MaxTop = 100;

    public static IReadOnlyList<ResourceScopeStatus> Resources(IResourceManager manager, int top = ResourceScopeStat.DefaultTop) =>
        [.. manager.Snapshot(top).Select(s => new ResourceScopeStatus(s.Kind, s.Name,
            new ResourceCounts(s.Usage.ConnectionsInbound, s.Usage.ConnectionsOutbound, s.Usage.StreamsInbound, s.Usage.StreamsOutbound, s.Usage.Memory),
            new ResourceLimitCounts(Limit(s.Limit.ConnectionsInbound), Limit(s.Limit.ConnectionsOutbound), Limit(s.Limit.Connections),
                Limit(s.Limit.StreamsInbound), Limit(s.Limit.StreamsOutbound), Limit(s.Limit.Streams),
                s.Limit.Memory == long.MaxValue ? null : s.Limit.Memory),
            s.Refusals, s.Scopes))];

    private static int? Limit(int value) => value == int.MaxValue ? null : value;

    private static void PrintResources(TextWriter text, IReadOnlyList<ResourceScopeStatus> scopes)
    {
        text.WriteLine("resources (used/limit, - = no limit):");
        var rows = new List<string[]> { new[] { "scope", "conns in", "conns out", "streams in", "streams out", "memory", "refused" } };
        foreach (var s in scopes)
        {
            string name = s.Scopes is { } count ? $"{s.Name}: {count} live, limits each" : TerminalText.Escape(s.Name);
            rows.Add([name, Pair(s.Usage.ConnectionsInbound, s.Limit.ConnectionsInbound),
                Pair(s.Usage.ConnectionsOutbound, s.Limit.ConnectionsOutbound), Pair(s.Usage.StreamsInbound, s.Limit.StreamsInbound),
                Pair(s.Usage.StreamsOutbound, s.Limit.StreamsOutbound),
                $"{Bytes(s.Usage.Memory)}/{(s.Limit.Memory is { } m ? Bytes(m) : "-")}",
                s.Refusals.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        int[] widths = [.. Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length))];
        foreach (var row in rows)
            text.WriteLine("  " + string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
        int listed = scopes.Count(s => s.Kind is "connection" or "stream" && s.Scopes is null);
        text.WriteLine($"  (connections and streams: totals over all, then the largest by memory; {listed} listed, --top to change)");

        static string Pair(long used, long? limit) => $"{used}/{(limit is { } l ? l.ToString(System.Globalization.CultureInfo.InvariantCulture) : "-")}";
    }

    /// <summary>"0 B", "256 KiB", "1.5 GiB".</summary>
    private static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{value:0.#} {units[unit]}");
    }

    private static NatStatus Nat(IPeerHost host, IServiceProvider services)
    {
        var config = services.GetService<SynapticMesh.Home.NodeConfig>();
        var reservations = services.GetService<P2PStack.Nat.Relay.RelayReservationManager>()?.Reservations ?? [];
        var reachability = services.GetService<P2PStack.Nat.AutoNat.AutoNatService>()?.Reachability ?? Reachability.Unknown;
        var addresses = host.AddressManager;
        return new NatStatus(config?.Nat ?? "off", reachability.ToString().ToLowerInvariant(),
            [.. addresses.ObservedAddresses.Concat(addresses.AdvertisedAddresses).Where(P2PStack.Nat.AddressScope.IsPublic)
                .Select(a => a.ToString()).Distinct(StringComparer.Ordinal)],
            // A relay address ends with /p2p-circuit (the relay's /p2p is inside it): ours goes after it.
            [.. addresses.RelayAddresses.Select(a => a.GetPeerId() == host.PeerId ? a.ToString() : $"{a}/p2p/{host.PeerId}")],
            [.. reservations.Select(r => new ReservationStatus(r.Relay.ToString(), r.Expire, [.. r.CircuitAddresses.Select(a => a.ToString())]))],
            config?.RelayService is not null,
            services.GetService<P2PStack.Nat.NatTraversalMetrics>()?.Snapshot() ?? new Dictionary<string, P2PStack.Nat.NatTraversalCounts>());
    }

    public static StatusResponse Status(IPeerHost host, bool detailed, NeuralMesh? mesh = null, LatencyWindow? window = null)
    {
        var peers = host.GetConnections()
            .GroupBy(c => c.RemotePeer)
            .Select(group => Peer(host, group.Key, [.. group.OrderBy(c => c.OpenedAt)], detailed, window))
            .OrderBy(p => p.PeerId, StringComparer.Ordinal)
            .ToList();
        return new StatusResponse(host.PeerId.ToString(), AddressDisplay.Dialable(host.ListenAddresses, host.PeerId),
            [.. host.Protocols.Order(StringComparer.Ordinal)], peers, detailed ? host.PeerStore.Peers.Count : null,
            detailed && mesh is not null ? Neural(mesh.GetStats()) : null);
    }

    private static NeuralStatus Neural(NeuralMeshStats stats) =>
        new(stats.SentByType, stats.ReceivedByType, stats.DroppedByTypeAndReason, stats.Forwarded, stats.QueueDepthByPeer,
            stats.InboundQueueDepth, stats.PendingCommands, stats.Agents, stats.Swarms);

    private static string Counts<T>(IReadOnlyDictionary<string, T> counts) =>
        counts.Count == 0 ? "none" : string.Join(", ", counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"));

    private static void PrintNeural(TextWriter text, NeuralStatus neural)
    {
        text.WriteLine("messages:");
        text.WriteLine($"  sent:      {Counts(neural.Sent)}");
        text.WriteLine($"  received:  {Counts(neural.Received)}");
        text.WriteLine($"  dropped:   {Counts(neural.Dropped)}");
        text.WriteLine($"  forwarded: {neural.Forwarded}, pending commands: {neural.PendingCommands}, inbound queue: {neural.InboundQueue}");
        text.WriteLine($"  send queues: {Counts(neural.QueueDepths)}");
        text.WriteLine($"  agents: {(neural.Agents.Count == 0 ? "none" : string.Join(", ", neural.Agents))}; swarms: {(neural.Swarms.Count == 0 ? "none" : string.Join(", ", neural.Swarms))}");
    }

    private static PeerStatus Peer(IPeerHost host, PeerId peer, IReadOnlyList<IConnection> connections, bool detailed, LatencyWindow? window)
    {
        var first = connections[0];
        var latency = Latency(host.PeerStore.GetLatency(peer), window?.Get(peer), window?.Window ?? TimeSpan.Zero);
        return new PeerStatus(
            peer.ToString(),
            [.. connections.Select(c => c.RemoteAddress.ToString()).Distinct(StringComparer.Ordinal)],
            host.PeerStore.GetProtocols(peer),
            first.SecurityProtocol,
            first.Muxer,
            first.Transport,
            first.Direction.ToString().ToLowerInvariant(),
            latency?.CurrentMs,
            latency,
            detailed
                ? [.. connections.Select(c => new ConnectionStatus(c.Id, c.LocalAddress.ToString(), c.RemoteAddress.ToString(),
                    c.Direction.ToString().ToLowerInvariant(), c.Transport, c.SecurityProtocol, c.Muxer, c.OpenedAt, c.StreamCount))]
                : null,
            detailed ? [.. host.PeerStore.GetAddresses(peer).Select(a => a.ToString())] : null,
            detailed ? host.PeerStore.GetMetadata(peer, IdentifyService.AgentVersionKey) : null,
            connections.All(c => c.IsLimited));
    }

    private static LatencyDetail? Latency(LatencyStats? stored, LatencyWindowStats? recent, TimeSpan window)
    {
        if (stored is null && recent is null) return null;
        return new LatencyDetail((recent?.Current ?? stored!.Current).TotalMilliseconds, recent?.Min.TotalMilliseconds, recent?.Mean.TotalMilliseconds,
            recent?.Max.TotalMilliseconds, recent?.Samples ?? 0, window.TotalSeconds, stored?.Average.TotalMilliseconds, stored?.Samples ?? 0);
    }

    /// <summary>"1.2 ms (min 0.9, mean 1.1, max 2 over 5 samples in 5 min; EWMA 1.1 ms)".</summary>
    public static string FormatLatency(LatencyDetail? latency)
    {
        if (latency is null) return "not measured";
        string text = $"{latency.CurrentMs:0.###} ms";
        if (latency.Samples > 0)
            text += $" (min {latency.MinMs:0.###}, mean {latency.MeanMs:0.###}, max {latency.MaxMs:0.###} over {latency.Samples} "
                + $"sample{(latency.Samples == 1 ? "" : "s")} in {latency.WindowSeconds / 60:0.#} min";
        else
            text += " (no sample in the last " + $"{latency.WindowSeconds / 60:0.#} min";
        if (latency.EwmaMs is { } ewma) text += $"; EWMA {ewma:0.###} ms of {latency.TotalSamples}";
        return text + ")";
    }

    private static void Print(TextWriter text, StatusResponse status, bool detailed)
    {
        text.WriteLine($"peer id: {status.PeerId}");
        text.WriteLine("addresses:");
        foreach (var address in status.Addresses) text.WriteLine($"  {address}");
        if (detailed)
        {
            text.WriteLine($"protocols: {string.Join(", ", status.Protocols)}");
            text.WriteLine($"known peers: {status.KnownPeers}");
            if (status.Neural is { } neural) PrintNeural(text, neural);
            if (status.Onion is { } onion) CircuitCommand.Print(text, onion);
        }
        if (status.Nat is { } nat)
        {
            text.WriteLine($"nat: {nat.Mode}, reachability {nat.Reachability}{(nat.RelayService ? ", relay service on" : "")}");
            foreach (var address in nat.PublicAddresses) text.WriteLine($"  public: {address}");
            foreach (var address in nat.RelayAddresses) text.WriteLine($"  relay:  {address}");
            foreach (var (method, counts) in nat.Traversals ?? new Dictionary<string, P2PStack.Nat.NatTraversalCounts>())
                text.WriteLine($"  traversals ({method}): {NatCommand.Describe(counts)}");
        }
        if (status.Resources is { } scopes) PrintResources(text, scopes);
        text.WriteLine($"connected peers: {status.Peers.Count}");
        foreach (var peer in status.Peers)
        {
            text.WriteLine($"  {peer.PeerId}");
            foreach (var address in peer.Addresses) text.WriteLine($"    address:   {address}");
            text.WriteLine($"    security:  {peer.SecurityProtocol}, muxer: {peer.Muxer}, transport: {peer.Transport}, {peer.Direction}{(peer.Limited ? ", limited (relayed)" : "")}");
            text.WriteLine($"    latency:   {FormatLatency(peer.Latency)}");
            text.WriteLine($"    protocols: {(peer.Protocols.Count == 0 ? "(not identified)" : TerminalText.Escape(string.Join(", ", peer.Protocols)))}");
            if (!detailed) continue;
            foreach (var c in peer.Connections ?? [])
                text.WriteLine($"    conn {c.Id}: {c.LocalAddress} -> {c.RemoteAddress} ({c.Direction}, {c.Streams} streams, since {c.OpenedAt:u})");
            foreach (var a in peer.KnownAddresses ?? []) text.WriteLine($"    known:     {a}");
            if (peer.AgentVersion is { } agent) text.WriteLine($"    agent:     {TerminalText.Escape(agent)}");
        }
    }
}
