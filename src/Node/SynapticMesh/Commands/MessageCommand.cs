using System.CommandLine;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Neural;
using MessageType = P2PStack.Neural.Messages.MessageType;
using NeuralCommand = P2PStack.Neural.Messages.Command;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p message &lt;agent|peer id|swarm:NAME&gt; --msg-type TYPE (--content TEXT|-|--file PATH) [--priority 0-10]
/// [--ttl SECONDS] [--reliable] [--via direct|circuit [--hops N]]</c>: sends one signed neural message (<c>--reliable</c>:
/// acknowledged, retried with backoff, and the outcome printed: delivered, or failed after N attempts, exit 1;
/// <c>--via circuit</c>: over an onion circuit, so that neither the recipient nor any relay learns where this node is);
/// a command waits for its response and prints it, and exits 1
/// when the response is a failure (e.g. "no handler"). The content size limit is the node's
/// (<see cref="NodeLimits"/>), stated in the one error a too-large content gets.
/// </summary>
public static class MessageCommand
{
    public sealed record MessageRequest(string To, string Type, string Content, int? Priority = null, int? TtlSeconds = null,
        string? CorrelationId = null, string? From = null, int? TimeoutSeconds = null, bool? Seal = null, bool? Reliable = null,
        string? Via = null, int? Hops = null);

    public sealed record MessageResponse(string Id, string Type, string To, string? Peer, CommandReply? Response = null, bool? Sealed = null,
        DeliveryResult? Delivery = null, ViaCircuit? Circuit = null);

    /// <summary>The circuit a <c>--via circuit</c> message went through; the relays are the sender's own knowledge, first hop first.</summary>
    public sealed record ViaCircuit(string CircuitId, int Hops, IReadOnlyList<string> Relays);

    /// <summary>Outcome of a <c>--reliable</c> send: delivered (acknowledged), refused or failed, after how many attempts.</summary>
    public sealed record DeliveryResult(string Status, int Attempts, double ElapsedMs, string? Error);

    public sealed record CommandReply(string Id, string From, bool Success, string Content, string? Error, double LatencyMs);

    /// <summary>Content larger than this is not sent: the CLI asks the node for its limit and stops.</summary>
    private const int SendCap = 1024 * 1024;

    private static readonly string TypeNames = string.Join("|", NeuralMessageTypes.All.Select(t => t.Name));

    public static Command Create(CommandContextFactory contexts)
    {
        var target = new Argument<string>("target") { Description = "An agent name, a peer id, or swarm:NAME" };
        var type = new Option<string>("--msg-type") { Description = $"Message type: {TypeNames}", Required = true }
            .Check(t => NeuralMessageTypes.TryParse(t ?? "", out _), $"--msg-type must be one of {TypeNames}");
        var content = new Option<string?>("--content") { Description = "Text of the message (a command's first word is its name); - reads stdin" };
        var file = new Option<string?>("--file") { Description = "Read the text of the message from this file (- for stdin)", HelpName = "path" };
        var priority = new Option<int?>("--priority") { Description = "0 (lowest) to 10 (highest); default 5" }
            .Check(p => p is null or (>= 0 and <= NeuralProtocol.MaxPriority), "--priority must be 0 to 10");
        var ttl = new Option<int?>("--ttl") { Description = "Seconds before the message expires everywhere; default 60" }
            .Check(t => t is null or >= 1, "--ttl must be at least 1 second");
        var correlation = new Option<string?>("--correlation-id") { Description = "For a response: the id of the command it answers" };
        var from = new Option<string?>("--from") { Description = "Sending agent (registered on this node, e.g. by a running listen --agent)" };
        var timeout = new Option<int?>("--timeout") { Description = "For a command: seconds to wait for the response; default 30" }
            .Check(t => t is null or >= 1, "--timeout must be at least 1 second");
        var seal = new Option<bool>("--seal") { Description = "Seal the body end to end to the recipient (fail if it has no sealing key)" };
        var noSeal = new Option<bool>("--no-seal") { Description = "Send the body in the clear (default at development and signed levels)" };
        seal.Description += "; to a swarm: with the swarm's key (swarmKeys in config.json)";
        var reliable = new Option<bool>("--reliable")
        {
            Description = "Wait for the recipient's acknowledgement, retrying with backoff; prints delivered, or failed after N attempts",
        };
        var via = new Option<string>("--via")
        {
            Description = "direct (default), or circuit: through an onion circuit (needs p2p init --onion), hiding this node's address "
                + "from the recipient and the recipient from every relay but the last",
            DefaultValueFactory = _ => "direct",
        };
        via.AcceptOnlyFromAmong("direct", "circuit");
        var hops = new Option<int?>("--hops") { Description = "With --via circuit: relays on the path, 1-8 (default 3)" }
            .Check(h => h is null or (>= 1 and <= P2PStack.Privacy.Onion.OnionClientOptions.MaxPathLength), "--hops must be 1 to 8");
        var command = new Command("message", "Send a signed message to an agent, a peer or a swarm")
        {
            target, type, content, file, priority, ttl, correlation, from, timeout, seal, noSeal, reliable, via, hops,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string to = parse.GetValue(target)!;
            bool toShadow = ShadowCommand.IsShadowTarget(to, out _);
            try
            {
                if (!toShadow) _ = NeuralDestination.Parse(to);
            }
            catch (ArgumentException e)
            {
                throw CliException.Usage($"'{to}' is not an agent name, peer id, swarm:NAME or shadow:ADDRESS ({ErrorText.Of(e)})", e);
            }
            if (toShadow) CheckShadowMessage(parse.GetValue(via) == "circuit", parse.GetValue(type)!, parse.GetValue(reliable), parse.GetValue(seal),
                message => CliException.Usage(message));
            if (parse.GetValue(seal) && parse.GetValue(noSeal)) throw CliException.Usage("--seal and --no-seal exclude each other");
            bool? sealRequest = parse.GetValue(seal) ? true : parse.GetValue(noSeal) ? false : null;
            string typeName = parse.GetValue(type)!;
            bool viaCircuit = parse.GetValue(via) == "circuit";
            if (!viaCircuit && parse.GetValue(hops) is not null) throw CliException.Usage("--hops is for --via circuit");
            if (viaCircuit) CheckCircuitMessage(to, typeName, parse.GetValue(reliable), message => CliException.Usage(message));
            var (bytes, overCap, size) = await ContentInput.ReadAsync(parse.GetValue(content), parse.GetValue(file), SendCap, cancellationToken);
            using var client = ControlClient.Open(context);
            if (overCap)
            {
                var limits = await client.GetAsync<NodeLimits>("v1/limits", cancellationToken);
                NeuralMessageTypes.TryParse(typeName, out var info);
                throw new CliException(ContentInput.TooLarge("the message content", size, limits.ContentLimit(info.Type)), code: ErrorCodes.Invalid);
            }
            var request = new MessageRequest(to, typeName, ContentInput.AsText(bytes, "the message content"), parse.GetValue(priority),
                parse.GetValue(ttl), parse.GetValue(correlation), parse.GetValue(from), parse.GetValue(timeout), sealRequest,
                parse.GetValue(reliable) ? true : null, viaCircuit ? "circuit" : null, parse.GetValue(hops));
            var result = await client.PostAsync<MessageRequest, MessageResponse>("v1/message", request, cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"sent {result.Type} {result.Id} to {result.To}{(result.Peer is null ? "" : $" (peer {result.Peer})")}"
                    + (result.Sealed == true ? ", sealed end to end" : ""));
                if (result.Circuit is { } circuit)
                    text.WriteLine($"through circuit {circuit.CircuitId}: {circuit.Hops} hops via {string.Join(" -> ", circuit.Relays)}");
                if (result.Delivery is { } delivery)
                    text.WriteLine(delivery.Status == "delivered"
                        ? $"delivered after {delivery.Attempts} attempt{(delivery.Attempts == 1 ? "" : "s")} in {delivery.ElapsedMs:0.###} ms"
                        : $"{delivery.Status} after {delivery.Attempts} attempt{(delivery.Attempts == 1 ? "" : "s")} in {delivery.ElapsedMs:0.###} ms: {TerminalText.Escape(delivery.Error ?? "")}");
                if (result.Response is { } reply)
                    text.WriteLine($"response from {TerminalText.Escape(reply.From)} in {reply.LatencyMs:0.###} ms: {(reply.Success ? "ok" : "failed")}: "
                        + TerminalText.Escape(reply.Success ? reply.Content : reply.Error));
            });
            if (result.Response is { Success: false } failed)
            {
                context.Output.Failure($"the command failed on {TerminalText.Escape(failed.From)}: {TerminalText.Escape(failed.Error ?? failed.Content)}",
                    ErrorCodes.RemoteFailure, ExitCodes.Failure);
                return ExitCodes.Failure;
            }
            if (result.Delivery is { Status: not "delivered" } undelivered)
            {
                context.Output.Failure($"the message was not delivered ({undelivered.Status} after {undelivered.Attempts} attempts): "
                    + TerminalText.Escape(undelivered.Error ?? ""), ErrorCodes.RemoteFailure, ExitCodes.Failure);
                return ExitCodes.Failure;
            }
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>What a message to a shadow address cannot be: it always goes over circuits (no --via), is signed by the
    /// connection's ephemeral identity and not sealed, and nothing comes back (no command, no acknowledgement).</summary>
    private static void CheckShadowMessage(bool viaCircuit, string typeName, bool reliable, bool seal, Func<string, Exception> error)
    {
        if (viaCircuit) throw error("a shadow address is always reached over circuits: no --via");
        if (typeName == "command") throw error("a shadow address takes no commands: the response would have to come back to this node");
        if (reliable) throw error("--reliable does not apply to a shadow address: acknowledgements would come back to this node");
        if (seal) throw error("messages to a shadow address are not sealed (its sealing key would name its node); the connection is end-to-end encrypted to the address");
    }

    /// <summary>What <c>--via circuit</c> cannot carry: a message to a swarm (gossipsub), a command (its response would
    /// come back directly) and a reliable send (its retries would too).</summary>
    private static void CheckCircuitMessage(string to, string typeName, bool reliable, Func<string, Exception> error)
    {
        if (to.StartsWith("swarm:", StringComparison.Ordinal)) throw error("--via circuit is for a peer or an agent; swarm messages travel over gossipsub");
        if (typeName == "command") throw error("--via circuit does not carry commands: the response would come back to this node directly");
        if (reliable) throw error("--via circuit and --reliable exclude each other: acknowledgements and retries would come back directly");
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/message", async (MessageRequest request, NeuralMesh mesh, IServiceProvider services, HttpContext http) =>
        {
            if (!NeuralMessageTypes.TryParse(request.Type ?? "", out var info)) throw ApiException.BadRequest($"unknown message type '{request.Type}'");
            if (ShadowCommand.IsShadowTarget(request.To, out var shadow))
                return await SendToShadowAsync(services, shadow, request, info, http);
            var to = NeuralDestination.Parse(request.To ?? "");
            string content = request.Content ?? "";
            int limit = NodeLimits.Current(services).ContentLimit(info.Type);
            int size = Encoding.UTF8.GetByteCount(content);
            if (size > limit) throw ApiException.BadRequest(ContentInput.TooLarge("the message content", size, limit));
            NeuralMessageId? correlation = null;
            if (request.CorrelationId is { Length: > 0 } text)
                correlation = NeuralMessageId.TryParse(text, out var id) ? id : throw ApiException.BadRequest($"'{text}' is not a message id (32 hex digits)");
            if (info.Type == MessageType.Response && correlation is null) throw ApiException.BadRequest("a response needs --correlation-id");
            var options = new SendOptions
            {
                Priority = request.Priority,
                Ttl = request.TtlSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                FromAgent = string.IsNullOrEmpty(request.From) ? null : request.From,
                CorrelationId = info.Type == MessageType.Response ? correlation : null,
                Seal = request.Seal,
                Reliable = request.Reliable == true,
            };
            if (options.Reliable && to.Kind == DestinationKind.Swarm)
                throw ApiException.BadRequest("--reliable is for messages to an agent or a peer; swarm messages are not acknowledged");
            if (options.Reliable && info.Type == MessageType.Command)
                throw ApiException.BadRequest("--reliable is for messages other than commands: a command already waits for its response");
            var body = NeuralMessageTypes.CreateWithContent(info.Type, content);
            using var scope = ControlApi.OperationScope(http);
            if (request.Via is { } route && route != "direct")
            {
                if (route != "circuit") throw ApiException.BadRequest($"via must be direct or circuit, not '{route}'");
                if (request.Hops is < 1 or > P2PStack.Privacy.Onion.OnionClientOptions.MaxPathLength)
                    throw ApiException.BadRequest($"hops must be 1 to {P2PStack.Privacy.Onion.OnionClientOptions.MaxPathLength}");
                CheckCircuitMessage(request.To ?? "", info.Name, options.Reliable, ApiException.BadRequest);
                return await CircuitCommand.SendMessageAsync(services, to, body, info.Name, options, request.Hops, scope.Token);
            }
            if (body is NeuralCommand commandBody)
            {
                var started = DateTimeOffset.UtcNow;
                var wait = request.TimeoutSeconds is { } t ? TimeSpan.FromSeconds(t) : mesh.Options.CommandTimeout;
                var reply = await mesh.SendCommandAsync(to, commandBody, options, wait, scope.Token);
                return new MessageResponse(reply.CorrelationId!.Value.ToString(), info.Name, to.ToString(), reply.SourcePeer.ToString(),
                    new CommandReply(reply.Id.ToString(), reply.SourceAgent.Length > 0 ? reply.SourceAgent : reply.SourcePeer.ToString(),
                        reply.Body.Success, reply.Body.Content, reply.Body.Error.Length > 0 ? reply.Body.Error : null,
                        (reply.ReceivedAt - started).TotalMilliseconds), reply.WasSealed);
            }
            var posted = await mesh.PostAsync(to, body, options, scope.Token);
            if (posted.Delivery is { } pending)
            {
                var report = await pending.WaitAsync(scope.Token);
                return new MessageResponse(posted.Id.ToString(), info.Name, to.ToString(), report.Peer.ToString(), Sealed: posted.Sealed,
                    Delivery: new DeliveryResult(report.Status.ToString().ToLowerInvariant(), report.Attempts, report.Elapsed.TotalMilliseconds, report.Error));
            }
            await posted.Sent.WaitAsync(scope.Token);
            return new MessageResponse(posted.Id.ToString(), info.Name, to.ToString(), posted.Peer?.ToString(), Sealed: posted.Sealed);
        });

    // p2p message shadow:...: a private connection to the address under a fresh ephemeral identity that also signs the
    // message; the recipient learns neither this node's peer id nor its address.
    private static async Task<MessageResponse> SendToShadowAsync(IServiceProvider services, P2PStack.Privacy.ShadowAddresses.ShadowAddress shadow,
        MessageRequest request, NeuralMessageTypeInfo info, HttpContext http)
    {
        CheckShadowMessage(request.Via is "circuit", info.Name, request.Reliable == true, request.Seal == true, ApiException.BadRequest);
        if (request.Via is { } route && route is not ("direct" or "circuit")) throw ApiException.BadRequest($"via must be direct or circuit, not '{route}'");
        string content = request.Content ?? "";
        int limit = NodeLimits.Current(services).ContentLimit(info.Type);
        int size = Encoding.UTF8.GetByteCount(content);
        if (size > limit) throw ApiException.BadRequest(ContentInput.TooLarge("the message content", size, limit));
        if (info.Type == MessageType.Response) throw ApiException.BadRequest("a shadow address takes no responses");
        var options = new SendOptions
        {
            Priority = request.Priority,
            Ttl = request.TtlSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
            Seal = false,
        };
        var body = NeuralMessageTypes.CreateWithContent(info.Type, content);
        using var scope = ControlApi.OperationScope(http);
        var identity = new P2PStack.Privacy.Onion.Client.EphemeralIdentity();
        var connection = await ShadowCommand.ConnectAsync(services, shadow, identity, scope.Token);
        try
        {
            var mesh = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<NeuralMesh>(services);
            var to = NeuralDestination.ToPeer(connection.RemotePeer);
            PostedMessage posted;
            try
            {
                posted = await mesh.SendOverAsync(connection, to, body, options, identity, scope.Token);
            }
            catch (P2PStack.Network.ProtocolNotSupportedException e)
            {
                throw new ApiException(502, $"{shadow.ToUri()} does not accept neural messages: {e.Message}", e);
            }
            return new MessageResponse(posted.Id.ToString(), info.Name, shadow.ToUri(), connection.RemotePeer.ToString(), Sealed: false);
        }
        finally
        {
            await connection.CloseAsync(CancellationToken.None);
        }
    }
}
