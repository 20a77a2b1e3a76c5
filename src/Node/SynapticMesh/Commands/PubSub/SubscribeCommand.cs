using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using P2PStack.Protocols.GossipSub;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p subscribe &lt;topic&gt;</c>: the node subscribes to the gossipsub topic while the command runs and prints each
/// message until Ctrl+C; with --json one object per line (<see cref="PubSubEvent"/>). Text output escapes every
/// control character of the data and the sender.
/// </summary>
public static class SubscribeCommand
{
    /// <param name="From">The author (null for unsigned messages).</param>
    /// <param name="Seqno">The author's sequence number, as a decimal string (64-bit).</param>
    /// <param name="Encoding"><c>utf-8</c> when <paramref name="Data"/> is the text itself, <c>base64</c> when it is not text.</param>
    public sealed record PubSubEvent(string Topic, string? From, string Data, string Encoding, string? Seqno, string ReceivedFrom,
        DateTimeOffset ReceivedAt);

    public static Command Create(CommandContextFactory contexts)
    {
        var topic = new Argument<string>("topic") { Description = "The gossipsub topic" };
        var command = new Command("subscribe", "Print a pubsub topic's messages until Ctrl+C") { topic };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string name = parse.GetValue(topic)!;
            if (PubSubPayload.TopicError(name) is { } error) throw CliException.Usage(error);
            using var client = ControlClient.Open(context);
            try
            {
                await foreach (var message in client.StreamAsync<PubSubEvent>($"v1/pubsub/subscribe?topic={Uri.EscapeDataString(name)}",
                    () => context.Output.Notice($"subscribed to {TerminalText.Escape(name)} (Ctrl+C to stop)"), cancellationToken))
                    context.Output.ResultLine(message, text => text.WriteLine(Format(message)));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            return ExitCodes.Success; // Ctrl+C is how subscribing ends
        });
        return command;
    }

    /// <summary>One line per message; everything that came from a peer is escaped (<see cref="TerminalText"/>).</summary>
    public static string Format(PubSubEvent message) =>
        $"{message.ReceivedAt:HH:mm:ss.fff} {TerminalText.Escape(message.Topic)} {TerminalText.Escape(message.From ?? "(unsigned)")}: "
        + (message.Encoding == PubSubPayload.Base64 ? $"base64:{message.Data}" : TerminalText.Escape(message.Data));

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/pubsub/subscribe", async (string topic, GossipSubService pubsub, IHostApplicationLifetime lifetime, HttpContext http) =>
        {
            if (PubSubPayload.TopicError(topic) is { } error) throw ApiException.BadRequest(error);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
            using var subscription = await pubsub.SubscribeAsync(topic, stop.Token);
            try
            {
                var lines = await NdjsonResponse.StartAsync(http, stop.Token);
                await foreach (var message in subscription.WithCancellation(stop.Token))
                {
                    var (data, encoding) = PubSubPayload.Encode(message.Data.Span);
                    await lines.WriteAsync(new PubSubEvent(message.Topic, message.Author?.ToString(), data, encoding,
                        message.SequenceNumber?.ToString(System.Globalization.CultureInfo.InvariantCulture), message.ReceivedFrom.ToString(),
                        DateTimeOffset.UtcNow), stop.Token);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The client went away or the node is stopping; disposing the subscription leaves the topic.
            }
        });
}
