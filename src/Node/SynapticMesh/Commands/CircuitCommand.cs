using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Protocols.Ping;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p circuit &lt;peer id&gt; [--hops N]</c>: builds an onion circuit (docs/specs/onion.md) and pings the peer end to
/// end through it, under an ephemeral identity; <c>p2p circuit list</c> and <c>p2p circuit close &lt;id&gt;</c> manage the
/// client's circuits. Needs a node started with <c>--onion</c> (init).
/// </summary>
public static class CircuitCommand
{
    public sealed record CircuitRequest(string Peer, int? Hops = null);

    /// <summary>What a circuit test reports; the relays are the client's own knowledge, first hop first.</summary>
    public sealed record CircuitResponse(string CircuitId, int Hops, double BuildMs, double RttMs, IReadOnlyList<string> Relays, string Peer);

    public sealed record CircuitListing(string CircuitId, int Hops, IReadOnlyList<string> Relays, DateTimeOffset CreatedAt, double BuildMs,
        int Streams, bool Dirty);

    public sealed record CloseRequest(string CircuitId);

    public sealed record CloseResponse(string CircuitId, bool Closed);

    /// <summary>The onion part of <c>status --detailed</c>: the figures of the onion metrics (docs/specs/onion.md,
    /// section 10), the build-time histogram as the mean of successful builds.</summary>
    public sealed record OnionStatus(bool Client, bool Relay, int ActiveCircuits, int RelayedCircuits, int DirectoryRelays,
        long RelayedCellsForward, long RelayedCellsBackward, long BuildsSucceeded, long BuildsFailed,
        IReadOnlyDictionary<string, long> BuildFailuresByReason, IReadOnlyDictionary<string, long> DestroysSent,
        IReadOnlyDictionary<string, long> DestroysReceived, IReadOnlyDictionary<string, long> RelayRefusals, long DescriptorsRejected,
        double BuildMsMean, long CoverCellsSent, long CoverCellsDropped, IReadOnlyDictionary<string, long> ExitStreams,
        long InboundCircuitConnections, IReadOnlyDictionary<string, long> Introductions);

    public static Command Create(CommandContextFactory contexts)
    {
        var peer = new Argument<string>("peer") { Description = "Peer id of the destination" };
        var hops = new Option<int?>("--hops") { Description = $"Relays on the path, 1-{OnionClientOptions.MaxPathLength} (default 3)" };
        hops.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1 or > OnionClientOptions.MaxPathLength)
                result.AddError($"--hops must be 1 to {OnionClientOptions.MaxPathLength}");
        });
        var command = new Command("circuit", "Build an onion circuit to a peer and ping it end to end through it") { peer, hops };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string target = parse.GetValue(peer)!;
            if (!PeerId.TryParse(target, out _)) throw new CliException($"'{target}' is not a peer id", ExitCodes.Usage);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<CircuitRequest, CircuitResponse>("v1/circuit", new CircuitRequest(target, parse.GetValue(hops)),
                cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"circuit {result.CircuitId}: {result.Hops} hops, built in {result.BuildMs:0.###} ms");
                for (int i = 0; i < result.Relays.Count; i++) text.WriteLine($"  hop {i + 1}: {result.Relays[i]}");
                text.WriteLine($"ping {result.Peer} through it: {result.RttMs:0.###} ms");
            });
            return ExitCodes.Success;
        });
        command.Subcommands.Add(List(contexts));
        command.Subcommands.Add(Close(contexts));
        return command;
    }

    private static Command List(CommandContextFactory contexts)
    {
        var command = new Command("list", "List this node's open circuits");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context.NodeHome);
            var circuits = await client.GetAsync<IReadOnlyList<CircuitListing>>("v1/circuits", cancellationToken);
            context.Output.Result(circuits, text =>
            {
                if (circuits.Count == 0) text.WriteLine("no open circuits");
                foreach (var c in circuits)
                    text.WriteLine($"{c.CircuitId}: {c.Hops} hops via {string.Join(" -> ", c.Relays)}, built {c.CreatedAt:u} in {c.BuildMs:0.###} ms, "
                        + $"{c.Streams} streams{(c.Dirty ? ", dirty" : "")}");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Close(CommandContextFactory contexts)
    {
        var id = new Argument<string>("id") { Description = "Circuit id (from circuit list)" };
        var command = new Command("close", "Close a circuit (DESTROY along its path)") { id };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<CloseRequest, CloseResponse>("v1/circuits/close", new CloseRequest(parse.GetValue(id)!), cancellationToken);
            context.Output.Result(result, text => text.WriteLine($"circuit {result.CircuitId} closed"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/circuit", async (CircuitRequest request, IServiceProvider services, HttpContext http) =>
        {
            var onion = ClientOf(services);
            if (!PeerId.TryParse(request.Peer ?? "", out var destination)) throw new ApiException(400, $"'{request.Peer}' is not a peer id");
            if (request.Hops is < 1 or > OnionClientOptions.MaxPathLength)
                throw new ApiException(400, $"hops must be 1 to {OnionClientOptions.MaxPathLength}");
            using var scope = ControlApi.OperationScope(http);
            var circuit = await Fail(() => onion.BuildCircuitAsync(new P2PStack.Privacy.Onion.Client.CircuitRequest
            {
                Hops = request.Hops,
                Destination = destination,
            }, scope.Token));
            var connection = await Fail(() => onion.ConnectAsync(destination, circuitId: circuit.Id, cancellationToken: scope.Token));
            try
            {
                await using var stream = await connection.Connection.OpenStreamAsync([PingProtocol.Id], scope.Token);
                var rtt = await services.GetRequiredService<PingService>().PingAsync(stream, 1, scope.Token);
                return new CircuitResponse(circuit.Id, circuit.Relays.Count, circuit.BuildTime.TotalMilliseconds, rtt[0].TotalMilliseconds,
                    [.. circuit.Relays.Select(r => r.ToString())], destination.ToString());
            }
            finally
            {
                await connection.Connection.CloseAsync(CancellationToken.None);
            }
        });
        routes.MapGet("/v1/circuits", (IServiceProvider services) =>
            ClientOf(services).Circuits.Where(c => !c.Closed).Select(c => new CircuitListing(c.Id, c.Relays.Count,
                [.. c.Relays.Select(r => r.ToString())], c.CreatedAt, c.BuildTime.TotalMilliseconds, c.Streams, c.Dirty)).ToList());
        routes.MapPost("/v1/circuits/close", async (CloseRequest request, IServiceProvider services) =>
        {
            if (!await ClientOf(services).CloseCircuitAsync(request.CircuitId ?? ""))
                throw new ApiException(404, $"no open circuit {request.CircuitId}");
            return new CloseResponse(request.CircuitId!, true);
        });
    }

    /// <summary>
    /// <c>p2p message --via circuit</c>: opens an end-to-end connection to the recipient's peer over a circuit (under an
    /// ephemeral identity), sends the signed message over it and closes the connection; the circuit stays for reuse.
    /// </summary>
    internal static async Task<MessageCommand.MessageResponse> SendMessageAsync(IServiceProvider services, P2PStack.Neural.NeuralDestination to,
        Google.Protobuf.IMessage body, string typeName, P2PStack.Neural.SendOptions options, int? hops, CancellationToken cancellationToken)
    {
        var onion = ClientOf(services);
        var mesh = services.GetRequiredService<P2PStack.Neural.NeuralMesh>();
        var peer = to.Kind == P2PStack.Neural.DestinationKind.Peer ? to.Peer! : await mesh.ResolveAgentAsync(to.Name!, cancellationToken);
        var connection = await Fail(() => onion.ConnectAsync(peer, new P2PStack.Privacy.Onion.Client.CircuitRequest { Hops = hops },
            cancellationToken: cancellationToken));
        try
        {
            var posted = await Fail(() => mesh.SendOverAsync(connection.Connection, to, body, options, cancellationToken));
            var circuit = connection.Circuit;
            return new MessageCommand.MessageResponse(posted.Id.ToString(), typeName, to.ToString(), peer.ToString(), Sealed: posted.Sealed,
                Circuit: new MessageCommand.ViaCircuit(circuit.Id, circuit.Relays.Count, [.. circuit.Relays.Select(r => r.ToString())]));
        }
        finally
        {
            await connection.Connection.CloseAsync(CancellationToken.None);
        }
    }

    /// <summary>The onion section of <c>status --detailed</c>, or null when the node runs no onion module.</summary>
    public static OnionStatus? Status(IServiceProvider services)
    {
        if (services.GetService<OnionMetrics>() is not { } metrics) return null;
        var options = services.GetRequiredService<IOptions<OnionOptions>>().Value;
        var client = services.GetRequiredService<OnionClient>();
        var relay = services.GetRequiredService<OnionRelay>();
        return new OnionStatus(options.EnableClient, options.Relay.Enabled, client.Circuits.Count(c => !c.Closed), relay.CircuitCount,
            client.Directory.Relays.Count, metrics.RelayedCellsForward, metrics.RelayedCellsBackward, metrics.BuildsSucceeded, metrics.BuildsFailed,
            metrics.BuildFailuresByReason, metrics.DestroysSent, metrics.DestroysReceived, metrics.RelayRefusalsByReason, metrics.DescriptorsRejected,
            metrics.MeanBuildTime.TotalMilliseconds, metrics.CoverCellsSent, metrics.CoverCellsDropped, metrics.ExitStreamsByOutcome,
            metrics.InboundCircuitConnections, metrics.IntroductionsByOutcome);
    }

    public static void Print(TextWriter text, OnionStatus onion)
    {
        static string Counts(IReadOnlyDictionary<string, long> counts) =>
            counts.Count == 0 ? "none" : string.Join(", ", counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"));
        text.WriteLine($"onion: client {(onion.Client ? "on" : "off")}, relay {(onion.Relay ? "on" : "off")}, {onion.DirectoryRelays} relays in the directory");
        text.WriteLine($"  circuits: {onion.ActiveCircuits} active (client), {onion.RelayedCircuits} relayed; builds {onion.BuildsSucceeded} ok "
            + $"(mean {onion.BuildMsMean:0.###} ms), {onion.BuildsFailed} failed");
        text.WriteLine($"  build failures: {Counts(onion.BuildFailuresByReason)}");
        text.WriteLine($"  relayed cells: {onion.RelayedCellsForward} forward, {onion.RelayedCellsBackward} backward");
        text.WriteLine($"  destroys sent: {Counts(onion.DestroysSent)}; received: {Counts(onion.DestroysReceived)}");
        text.WriteLine($"  relay refusals: {Counts(onion.RelayRefusals)}; descriptors rejected: {onion.DescriptorsRejected}");
        text.WriteLine($"  cover cells: {onion.CoverCellsSent} sent, {onion.CoverCellsDropped} dropped");
        text.WriteLine($"  exit streams: {Counts(onion.ExitStreams)}; inbound circuit connections: {onion.InboundCircuitConnections}");
        text.WriteLine($"  introductions: {Counts(onion.Introductions)}");
    }

    private static OnionClient ClientOf(IServiceProvider services)
    {
        var options = services.GetService<IOptions<OnionOptions>>()?.Value;
        if (options is null || services.GetService<OnionMetrics>() is null || !options.EnableClient)
            throw new ApiException(409, "this node does not build circuits: initialise it with p2p init --onion");
        return services.GetRequiredService<OnionClient>();
    }

    // Circuit failures are the remote network's doing: a 502 with the reason, not a crash of the endpoint.
    private static async Task<T> Fail<T>(Func<Task<T>> work)
    {
        try
        {
            return await work();
        }
        catch (P2PStack.Network.ProtocolNotSupportedException e)
        {
            throw new ApiException(502, $"the destination does not accept this over circuits: {e.Message}", e);
        }
        catch (Exception e) when (e is CircuitException or OnionStreamException or InvalidOperationException or IOException)
        {
            throw new ApiException(502, $"circuit failed: {e.Message}");
        }
    }
}
