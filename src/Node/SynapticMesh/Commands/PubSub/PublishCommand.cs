using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Protocols.GossipSub;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p publish &lt;topic&gt; &lt;data|-&gt; [--file PATH]</c>: publishes one gossipsub message (signed by the node),
/// the data given inline, from a file, or from stdin (<c>-</c>). The size limit is the node's
/// (<see cref="NodeLimits.PublishLimit"/>), stated in the one error too large data gets.
/// </summary>
public static class PublishCommand
{
    public sealed record PublishRequest(string Topic, string DataBase64);

    /// <param name="TopicPeers">Peers known to be subscribed to the topic when it was published.</param>
    public sealed record PublishResponse(string Topic, string MessageId, int Bytes, int TopicPeers);

    private const int SendCap = 2 * 1024 * 1024;

    public static Command Create(CommandContextFactory contexts)
    {
        var topic = new Argument<string>("topic") { Description = "The gossipsub topic" };
        var data = new Argument<string?>("data") { Description = "The message (text), or - to read it from stdin", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--file") { Description = "Read the message from this file (- for stdin)", HelpName = "path" };
        var command = new Command("publish", "Publish a message to a pubsub topic") { topic, data, file };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string name = parse.GetValue(topic)!;
            if (PubSubPayload.TopicError(name) is { } error) throw CliException.Usage(error);
            var (bytes, overCap, size) = await ContentInput.ReadAsync(parse.GetValue(data), parse.GetValue(file), SendCap, cancellationToken);
            using var client = ControlClient.Open(context);
            if (overCap)
            {
                var limits = await client.GetAsync<NodeLimits>("v1/limits", cancellationToken);
                throw new CliException(ContentInput.TooLarge("the message", size, limits.PublishLimit(name)), code: ErrorCodes.Invalid);
            }
            var result = await client.PostAsync<PublishRequest, PublishResponse>("v1/pubsub/publish",
                new PublishRequest(name, Convert.ToBase64String(bytes)), cancellationToken);
            context.Output.Result(result, text => text.WriteLine(
                $"published {result.Bytes} bytes to {TerminalText.Escape(result.Topic)} ({result.TopicPeers} subscribed peer{(result.TopicPeers == 1 ? "" : "s")} known)"));
            if (result.TopicPeers == 0 && !context.Output.Json)
                context.Output.Notice("no peer subscribed to the topic is known yet: the message reached nobody");
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/pubsub/publish", async (PublishRequest request, GossipSubService pubsub, IServiceProvider services, HttpContext http) =>
        {
            if (PubSubPayload.TopicError(request.Topic) is { } error) throw ApiException.BadRequest(error);
            byte[] data;
            try
            {
                data = Convert.FromBase64String(request.DataBase64 ?? "");
            }
            catch (FormatException)
            {
                throw ApiException.BadRequest("the data is not base64");
            }
            int limit = NodeLimits.Current(services).PublishLimit(request.Topic);
            if (data.Length > limit) throw ApiException.BadRequest(ContentInput.TooLarge("the message", data.Length, limit));
            int peers = pubsub.GetPeers(request.Topic).Count;
            using var scope = ControlApi.OperationScope(http);
            var id = await pubsub.PublishAsync(request.Topic, data, scope.Token);
            return new PublishResponse(request.Topic, Convert.ToHexStringLower(id.Bytes.Span), data.Length, peers);
        });
}
