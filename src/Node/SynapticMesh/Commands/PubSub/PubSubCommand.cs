using System.CommandLine;
using Microsoft.AspNetCore.Routing;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p pubsub peers|topics</c>: the node's gossipsub state. (<c>subscribe</c> and <c>publish</c> sit at the top.)</summary>
public static class PubSubCommand
{
    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("pubsub", "Inspect the node's pubsub (gossipsub) topics and peers");
        command.Subcommands.Add(PubSubPeersCommand.Create(contexts));
        command.Subcommands.Add(PubSubTopicsCommand.Create(contexts));
        return command;
    }

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        SubscribeCommand.MapEndpoint(routes);
        PublishCommand.MapEndpoint(routes);
        PubSubPeersCommand.MapEndpoint(routes);
        PubSubTopicsCommand.MapEndpoint(routes);
    }
}
