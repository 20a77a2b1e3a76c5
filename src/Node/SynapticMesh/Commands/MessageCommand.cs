using System.CommandLine;
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
/// <c>p2p message &lt;agent|peer id|swarm:NAME&gt; --msg-type TYPE --content TEXT [--priority 0-10] [--ttl SECONDS]</c>:
/// sends one signed neural message; a command waits for its response and prints it.
/// </summary>
public static class MessageCommand
{
    public sealed record MessageRequest(string To, string Type, string Content, int? Priority = null, int? TtlSeconds = null,
        string? CorrelationId = null, string? From = null, int? TimeoutSeconds = null, bool? Seal = null);

    public sealed record MessageResponse(string Id, string Type, string To, string? Peer, CommandReply? Response = null, bool? Sealed = null);

    public sealed record CommandReply(string Id, string From, bool Success, string Content, string? Error, double LatencyMs);

    private static readonly string TypeNames = string.Join("|", NeuralMessageTypes.All.Select(t => t.Name));

    public static Command Create(CommandContextFactory contexts)
    {
        var target = new Argument<string>("target") { Description = "An agent name, a peer id, or swarm:NAME" };
        var type = new Option<string>("--msg-type") { Description = $"Message type: {TypeNames}", Required = true };
        var content = new Option<string>("--content") { Description = "Text of the message (a command's first word is its name)", Required = true };
        var priority = new Option<int?>("--priority") { Description = "0 (lowest) to 10 (highest); default 5" };
        var ttl = new Option<int?>("--ttl") { Description = "Seconds before the message expires everywhere; default 60" };
        var correlation = new Option<string?>("--correlation-id") { Description = "For a response: the id of the command it answers" };
        var from = new Option<string?>("--from") { Description = "Sending agent (registered on this node, e.g. by a running listen --agent)" };
        var timeout = new Option<int?>("--timeout") { Description = "For a command: seconds to wait for the response; default 30" };
        var seal = new Option<bool>("--seal") { Description = "Seal the body end to end to the recipient (fail if it has no sealing key)" };
        var noSeal = new Option<bool>("--no-seal") { Description = "Send the body in the clear (default at development and signed levels)" };
        seal.Description += "; to a swarm: with the swarm's key (swarmKeys in config.json)";
        type.Validators.Add(result =>
        {
            if (!NeuralMessageTypes.TryParse(result.GetValueOrDefault<string>() ?? "", out _)) result.AddError($"--msg-type must be one of {TypeNames}");
        });
        priority.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 0 or > NeuralProtocol.MaxPriority) result.AddError("--priority must be 0 to 10");
        });
        ttl.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1) result.AddError("--ttl must be at least 1 second");
        });
        timeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1) result.AddError("--timeout must be at least 1 second");
        });
        var command = new Command("message", "Send a signed message to an agent, a peer or a swarm") { target, type, content, priority, ttl, correlation, from, timeout, seal, noSeal };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string to = parse.GetValue(target)!;
            try
            {
                _ = NeuralDestination.Parse(to);
            }
            catch (ArgumentException e)
            {
                throw new CliException($"'{to}' is not an agent name, peer id or swarm:NAME ({e.Message})", ExitCodes.Usage);
            }
            if (parse.GetValue(seal) && parse.GetValue(noSeal)) throw new CliException("--seal and --no-seal exclude each other", ExitCodes.Usage);
            bool? sealRequest = parse.GetValue(seal) ? true : parse.GetValue(noSeal) ? false : null;
            var request = new MessageRequest(to, parse.GetValue(type)!, parse.GetValue(content)!, parse.GetValue(priority), parse.GetValue(ttl),
                parse.GetValue(correlation), parse.GetValue(from), parse.GetValue(timeout), sealRequest);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<MessageRequest, MessageResponse>("v1/message", request, cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"sent {result.Type} {result.Id} to {result.To}{(result.Peer is null ? "" : $" (peer {result.Peer})")}"
                    + (result.Sealed == true ? ", sealed end to end" : ""));
                if (result.Response is { } reply)
                    text.WriteLine($"response from {reply.From} in {reply.LatencyMs:0.###} ms: {(reply.Success ? "ok" : "failed")}: "
                        + (reply.Success ? reply.Content : reply.Error));
            });
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/message", async (MessageRequest request, NeuralMesh mesh, HttpContext http) =>
        {
            if (!NeuralMessageTypes.TryParse(request.Type ?? "", out var info)) throw new ApiException(400, $"unknown message type '{request.Type}'");
            var to = NeuralDestination.Parse(request.To ?? "");
            NeuralMessageId? correlation = null;
            if (request.CorrelationId is { Length: > 0 } text)
                correlation = NeuralMessageId.TryParse(text, out var id) ? id : throw new ApiException(400, $"'{text}' is not a message id (32 hex digits)");
            if (info.Type == MessageType.Response && correlation is null) throw new ApiException(400, "a response needs --correlation-id");
            var options = new SendOptions
            {
                Priority = request.Priority,
                Ttl = request.TtlSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
                FromAgent = string.IsNullOrEmpty(request.From) ? null : request.From,
                CorrelationId = info.Type == MessageType.Response ? correlation : null,
                Seal = request.Seal,
            };
            var body = NeuralMessageTypes.CreateWithContent(info.Type, request.Content ?? "");
            using var scope = ControlApi.OperationScope(http);
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
            await posted.Sent.WaitAsync(scope.Token);
            return new MessageResponse(posted.Id.ToString(), info.Name, to.ToString(), posted.Peer?.ToString(), Sealed: posted.Sealed);
        });
}
