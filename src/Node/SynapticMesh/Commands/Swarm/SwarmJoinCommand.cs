using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Neural;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary><c>p2p swarm join &lt;name&gt;</c>: the node joins the swarm (subscribes to its topics) until it leaves or stops.</summary>
public static class SwarmJoinCommand
{
    public sealed record SwarmRequest(string Name);

    /// <param name="Changed">Whether the node joined now (false: it was a member already).</param>
    public sealed record SwarmResponse(string Swarm, bool Changed, IReadOnlyList<string> Swarms);

    public static Command Create(CommandContextFactory contexts)
    {
        var name = SwarmCommand.NameArgument();
        var command = new Command("join", "Join a neural swarm") { name };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string swarm = SwarmCommand.CheckName(parse.GetValue(name)!);
            using var client = ControlClient.Open(context);
            var result = await client.PostAsync<SwarmRequest, SwarmResponse>("v1/swarm/join", new SwarmRequest(swarm), cancellationToken);
            context.Output.Result(result, text => text.WriteLine(result.Changed ? $"joined swarm {result.Swarm}" : $"already a member of swarm {result.Swarm}"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/swarm/join", async (SwarmRequest request, NeuralMesh mesh, SwarmListeners listeners, HttpContext http) =>
        {
            string swarm = request.Name ?? "";
            if (!NeuralProtocol.IsValidName(swarm)) throw ApiException.BadRequest($"'{swarm}' is not a swarm name");
            bool member = mesh.JoinedSwarms.Contains(swarm);
            using var scope = ControlApi.OperationScope(http);
            if (!member) await mesh.JoinSwarmAsync(swarm, scope.Token);
            await listeners.KeepAsync(swarm); // joined explicitly: stays when listeners end
            return new SwarmResponse(swarm, !member, mesh.JoinedSwarms);
        });
}
