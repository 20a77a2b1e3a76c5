using System.CommandLine;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using P2PStack.Neural;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p listen [--agent NAME] [--swarm NAME]</c>: prints the messages the node receives until Ctrl+C (one JSON
/// object per line with --json). With --agent, the agent is registered on the node (and published in the DHT) while
/// listening, and only messages to it are shown; with --swarm, the node joins the swarm while listening (unless it
/// had joined it already) and only that swarm's messages are shown. The node streams them as newline-delimited JSON
/// over a chunked HTTP response. Text output escapes every control character of the remote content.
/// </summary>
public static class ListenCommand
{
    public sealed record ListenEvent(string Id, string Type, string From, string? FromAgent, string To, int Priority, string Content,
        DateTimeOffset ReceivedAt, string? CorrelationId, int Hops);

    public static Command Create(CommandContextFactory contexts)
    {
        var agent = new Option<string?>("--agent") { Description = "Listen as this agent: register it on the node and show only its messages" }
            .Check(name => name is null || NeuralProtocol.IsValidName(name), "--agent must be 1 to 64 of A-Z a-z 0-9 . _ -");
        var swarm = new Option<string?>("--swarm") { Description = "Show only this swarm's messages (the node joins it while listening if it has not)" }
            .Check(name => name is null || NeuralProtocol.IsValidName(name), "--swarm must be 1 to 64 of A-Z a-z 0-9 . _ -");
        var command = new Command("listen", "Print received messages until Ctrl+C") { agent, swarm };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string? agentName = parse.GetValue(agent);
            string? swarmName = parse.GetValue(swarm);
            if (agentName is not null && swarmName is not null) throw CliException.Usage("--agent and --swarm cannot be combined");
            string path = agentName is not null ? $"v1/listen?agent={Uri.EscapeDataString(agentName)}"
                : swarmName is not null ? $"v1/listen?swarm={Uri.EscapeDataString(swarmName)}"
                : "v1/listen";
            string listening = agentName is not null ? $"listening as agent {agentName} (Ctrl+C to stop)"
                : swarmName is not null ? $"listening to swarm {swarmName} (Ctrl+C to stop)"
                : "listening for messages (Ctrl+C to stop)";
            using var client = ControlClient.Open(context);
            try
            {
                await foreach (var message in client.StreamAsync<ListenEvent>(path, () => context.Output.Notice(listening), cancellationToken))
                    context.Output.ResultLine(message, text => text.WriteLine(Format(message)));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            return ExitCodes.Success; // Ctrl+C is how listening ends
        });
        return command;
    }

    /// <summary>One line per message; everything that came from a peer is escaped (<see cref="TerminalText"/>).</summary>
    public static string Format(ListenEvent message) =>
        $"{message.ReceivedAt:HH:mm:ss.fff} {message.Type} p{message.Priority} {TerminalText.Escape(message.FromAgent ?? message.From)} -> "
        + $"{TerminalText.Escape(message.To)}: {TerminalText.Escape(message.Content)}";

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/listen", async (string? agent, string? swarm, NeuralMesh mesh, SwarmListeners swarms, IHostApplicationLifetime lifetime,
            HttpContext http) =>
        {
            if (agent is not null && !NeuralProtocol.IsValidName(agent)) throw ApiException.BadRequest($"'{agent}' is not a valid agent name");
            if (swarm is not null && !NeuralProtocol.IsValidName(swarm)) throw ApiException.BadRequest($"'{swarm}' is not a valid swarm name");
            using var listener = mesh.Listen(agent);
            // An agent registered by this listen goes away with it; one registered otherwise stays. A swarm joined for
            // listeners is left when the last of them ends (SwarmListeners).
            bool registered = agent is not null && !mesh.IsLocalAgent(agent);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
            IAsyncDisposable? lease = null;
            try
            {
                if (registered) await mesh.RegisterAgentAsync(agent!, stop.Token);
                if (swarm is not null) lease = await swarms.AcquireAsync(swarm, stop.Token);
                var lines = await NdjsonResponse.StartAsync(http, stop.Token);
                await foreach (var message in listener.WithCancellation(stop.Token))
                {
                    if (swarm is not null && (message.Destination.Kind != DestinationKind.Swarm || message.Destination.Name != swarm)) continue;
                    await lines.WriteAsync(new ListenEvent(message.Id.ToString(), message.TypeName, message.SourcePeer.ToString(),
                        message.SourceAgent.Length > 0 ? message.SourceAgent : null, message.Destination.ToString(), message.Priority,
                        message.Content, message.ReceivedAt, message.CorrelationId?.ToString(), message.Hops), stop.Token);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The client went away or the node is stopping.
            }
            finally
            {
                if (registered) mesh.UnregisterAgent(agent!);
                if (lease is not null) await lease.DisposeAsync();
            }
        });
}
