using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using P2PStack.Discovery.Signaling;
using P2PStack.Neural;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using static SynapticMesh.Commands.SwarmJoinCommand;

namespace SynapticMesh.Commands;

/// <summary><c>p2p swarm leave &lt;name&gt;</c>: the node leaves the swarm and announces its departure (the other members
/// see PeerLeft at once); not being a member is an error (not_found).</summary>
public static class SwarmLeaveCommand
{
    public static Command Create(CommandContextFactory contexts)
    {
        var name = SwarmCommand.NameArgument();
        var command = new Command("leave", "Leave a neural swarm") { name };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string swarm = SwarmCommand.CheckName(parse.GetValue(name)!);
            using var client = ControlClient.Open(context);
            var result = await client.PostAsync<SwarmRequest, SwarmResponse>("v1/swarm/leave", new SwarmRequest(swarm), cancellationToken);
            context.Output.Result(result, text => text.WriteLine($"left swarm {result.Swarm}"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/swarm/leave", async (SwarmRequest request, NeuralMesh mesh, SwarmSignaling signaling) =>
        {
            string swarm = request.Name ?? "";
            if (!NeuralProtocol.IsValidName(swarm)) throw ApiException.BadRequest($"'{swarm}' is not a swarm name");
            bool announced = await signaling.LeaveAsync(swarm);
            if (!await mesh.LeaveSwarmAsync(swarm) && !announced) throw ApiException.NotFound($"this node is not a member of swarm {swarm}");
            return new SwarmResponse(swarm, true, mesh.JoinedSwarms);
        });
}
