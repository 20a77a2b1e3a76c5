using System.CommandLine;
using Microsoft.AspNetCore.Routing;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p dht put|get|provide|findprovs|findpeer</c>: the node's Kademlia DHT (its protocol id is the config's
/// <c>dhtProtocol</c>). Each subcommand is its own file with its control API endpoint.
/// </summary>
public static class DhtCommand
{
    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("dht", "Store, find and provide through the Kademlia DHT");
        command.Subcommands.Add(DhtPutCommand.Create(contexts));
        command.Subcommands.Add(DhtGetCommand.Create(contexts));
        command.Subcommands.Add(DhtProvideCommand.Create(contexts));
        command.Subcommands.Add(DhtFindProvsCommand.Create(contexts));
        command.Subcommands.Add(DhtFindPeerCommand.Create(contexts));
        return command;
    }

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        DhtPutCommand.MapEndpoint(routes);
        DhtGetCommand.MapEndpoint(routes);
        DhtProvideCommand.MapEndpoint(routes);
        DhtFindProvsCommand.MapEndpoint(routes);
        DhtFindPeerCommand.MapEndpoint(routes);
    }
}
