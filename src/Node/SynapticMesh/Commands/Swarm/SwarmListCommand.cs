using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Neural;
using P2PStack.Protocols.GossipSub;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p swarm list</c>: the swarms this node is a member of, with how many peers are known in each.</summary>
public static class SwarmListCommand
{
    public sealed record SwarmListResponse(IReadOnlyList<SwarmInfo> Swarms);

    /// <param name="Peers">Peers known to be subscribed to any of the swarm's topics.</param>
    public sealed record SwarmInfo(string Name, int Peers);

    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("list", "List the swarms this node is a member of");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context);
            var result = await client.GetAsync<SwarmListResponse>("v1/swarm/list", cancellationToken);
            context.Output.Table(result, () =>
            {
                var table = new Table("SWARM", "PEERS");
                foreach (var swarm in result.Swarms) table.Add(swarm.Name, $"{swarm.Peers}");
                return table;
            }, $"member of {result.Swarms.Count} swarm{(result.Swarms.Count == 1 ? "" : "s")}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/swarm/list", (NeuralMesh mesh, IServiceProvider services) =>
        {
            var pubsub = services.GetService<GossipSubService>();
            return new SwarmListResponse([.. mesh.JoinedSwarms.Select(s => new SwarmInfo(s, SwarmCommand.MemberPeers(pubsub, s)))]);
        });
}
