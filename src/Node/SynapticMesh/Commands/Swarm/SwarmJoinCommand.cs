using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Discovery.Signaling;
using P2PStack.Neural;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary><c>p2p swarm join &lt;name&gt; [--announce-interval S]</c>: the node joins the swarm (subscribes to its
/// topics) and announces its signed presence in it every S seconds (swarm signaling, docs/specs/swarm-signaling.md)
/// until it leaves or stops; joining again changes the interval.</summary>
public static class SwarmJoinCommand
{
    /// <param name="AnnounceIntervalSeconds">Seconds between presence announcements (null: the node's default).</param>
    public sealed record SwarmRequest(string Name, double? AnnounceIntervalSeconds = null);

    /// <param name="Changed">Whether the node joined now (false: it was a member already).</param>
    public sealed record SwarmResponse(string Swarm, bool Changed, IReadOnlyList<string> Swarms);

    public static Command Create(CommandContextFactory contexts)
    {
        var name = SwarmCommand.NameArgument();
        var interval = new Option<double?>("--announce-interval") { Description = "Seconds between presence announcements (default 10)", HelpName = "seconds" }
            .Check(s => s is null or (>= 0.1 and <= 200), "--announce-interval must be 0.1 to 200 seconds");
        var command = new Command("join", "Join a neural swarm and announce presence in it") { name, interval };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string swarm = SwarmCommand.CheckName(parse.GetValue(name)!);
            using var client = ControlClient.Open(context);
            var result = await client.PostAsync<SwarmRequest, SwarmResponse>("v1/swarm/join", new SwarmRequest(swarm, parse.GetValue(interval)), cancellationToken);
            context.Output.Result(result, text => text.WriteLine(result.Changed ? $"joined swarm {result.Swarm}" : $"already a member of swarm {result.Swarm}"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/swarm/join", async (SwarmRequest request, NeuralMesh mesh, SwarmSignaling signaling, SwarmListeners listeners, HttpContext http) =>
        {
            string swarm = request.Name ?? "";
            if (!NeuralProtocol.IsValidName(swarm)) throw ApiException.BadRequest($"'{swarm}' is not a swarm name");
            bool member = mesh.JoinedSwarms.Contains(swarm);
            using var scope = ControlApi.OperationScope(http);
            TimeSpan? interval = request.AnnounceIntervalSeconds is { } seconds
                ? seconds is >= 0.1 and <= 86400 ? TimeSpan.FromSeconds(seconds) : throw ApiException.BadRequest("the announce interval must be 0.1 to 86400 seconds")
                : null;
            try
            {
                // Presence first (it checks the interval against the node's presence TTL limit): PeerAvailable at the others.
                await signaling.JoinAsync(swarm, interval, scope.Token);
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw ApiException.BadRequest(e.Message);
            }
            if (!member) await mesh.JoinSwarmAsync(swarm, scope.Token);
            await listeners.KeepAsync(swarm); // joined explicitly: stays when listeners end
            return new SwarmResponse(swarm, !member, mesh.JoinedSwarms);
        });
}
