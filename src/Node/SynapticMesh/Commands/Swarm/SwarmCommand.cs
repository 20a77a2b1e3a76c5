using System.CommandLine;
using Microsoft.AspNetCore.Routing;
using P2PStack.Neural;
using P2PStack.Protocols.GossipSub;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p swarm join|leave|list|peers</c>: the neural swarms this node is a member of (NeuralMesh's swarm API). Messages
/// sent to <c>swarm:NAME</c> reach every member and show in <c>p2p listen</c> (or <c>listen --swarm NAME</c>).
/// </summary>
public static class SwarmCommand
{
    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("swarm", "Join, leave and list neural swarms");
        command.Subcommands.Add(SwarmJoinCommand.Create(contexts));
        command.Subcommands.Add(SwarmLeaveCommand.Create(contexts));
        command.Subcommands.Add(SwarmListCommand.Create(contexts));
        command.Subcommands.Add(SwarmPeersCommand.Create(contexts));
        return command;
    }

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        SwarmJoinCommand.MapEndpoint(routes);
        SwarmLeaveCommand.MapEndpoint(routes);
        SwarmListCommand.MapEndpoint(routes);
        SwarmPeersCommand.MapEndpoint(routes);
    }

    /// <summary>The swarm name argument, checked as NeuralMesh checks it.</summary>
    public static Argument<string> NameArgument() => new("name") { Description = "Swarm name: 1 to 64 of A-Z a-z 0-9 . _ -" };

    public static string CheckName(string name) =>
        NeuralProtocol.IsValidName(name) ? name : throw CliException.Usage($"'{TerminalText.Escape(name)}' is not a swarm name: 1 to 64 of A-Z a-z 0-9 . _ -");

    /// <summary>Peers subscribed to any of the swarm's topics (one per message family).</summary>
    public static int MemberPeers(GossipSubService? pubsub, string swarm) =>
        pubsub is null ? 0 : NeuralMessageTypes.SwarmFamilies.SelectMany(f => pubsub.GetPeers(NeuralProtocol.SwarmTopic(swarm, f))).Distinct().Count();
}
