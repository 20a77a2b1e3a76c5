using System.CommandLine;
using Microsoft.AspNetCore.Routing;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// The <c>p2p</c> command group. Each subcommand lives in its own file with its control API endpoint, so a new
/// command is one file plus one line in each list below.
/// </summary>
public static class P2PCommand
{
    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("p2p", "Run and control the libp2p node");
        command.Subcommands.Add(InitCommand.Create(contexts));
        command.Subcommands.Add(StartCommand.Create(contexts));
        command.Subcommands.Add(StatusCommand.Create(contexts));
        command.Subcommands.Add(ConnectCommand.Create(contexts));
        command.Subcommands.Add(PingCommand.Create(contexts));
        command.Subcommands.Add(PerfCommand.Create(contexts));
        command.Subcommands.Add(QuantumCommand.Create(contexts));
        command.Subcommands.Add(MessageCommand.Create(contexts));
        command.Subcommands.Add(ListenCommand.Create(contexts));
        command.Subcommands.Add(DiscoverCommand.Create(contexts));
        command.Subcommands.Add(DhtCommand.Create(contexts));
        command.Subcommands.Add(SubscribeCommand.Create(contexts));
        command.Subcommands.Add(PublishCommand.Create(contexts));
        command.Subcommands.Add(PubSubCommand.Create(contexts));
        command.Subcommands.Add(SwarmCommand.Create(contexts));
        command.Subcommands.Add(SecurityCommand.Create(contexts));
        command.Subcommands.Add(PeerCommand.Create(contexts));
        command.Subcommands.Add(MeshCommand.Create(contexts));
        command.Subcommands.Add(DagCommand.Create(contexts));
        command.Subcommands.Add(CircuitCommand.Create(contexts));
        command.Subcommands.Add(NatCommand.Create(contexts));
        command.Subcommands.Add(ShadowCommand.Create(contexts));
        return command;
    }

    /// <summary>Registers the control API endpoints the subcommands call.</summary>
    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        StatusCommand.MapEndpoint(routes);
        ConnectCommand.MapEndpoint(routes);
        PingCommand.MapEndpoint(routes);
        PerfCommand.MapEndpoint(routes);
        QuantumCommand.MapEndpoint(routes);
        MessageCommand.MapEndpoint(routes);
        ListenCommand.MapEndpoint(routes);
        NodeLimits.MapEndpoint(routes);
        DiscoverCommand.MapEndpoint(routes);
        DhtCommand.MapEndpoints(routes);
        PubSubCommand.MapEndpoints(routes);
        SwarmCommand.MapEndpoints(routes);
        SecurityCommand.MapEndpoint(routes);
        PeerCommand.MapEndpoints(routes);
        MeshCommand.MapEndpoints(routes);
        DagCommand.MapEndpoints(routes);
        CircuitCommand.MapEndpoints(routes);
        NatCommand.MapEndpoint(routes);
        ShadowCommand.MapEndpoints(routes);
    }
}
