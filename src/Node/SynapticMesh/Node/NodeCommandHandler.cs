using P2PStack.Network;
using P2PStack.Neural;
using P2PStack.Neural.Messages;

namespace SynapticMesh.Node;

/// <summary>
/// The commands every node answers: <c>ping</c> (answers <c>pong</c>), <c>echo ARGS</c> (answers the arguments) and
/// <c>status</c> (peer id, connected peers, local agents).
/// </summary>
public sealed class NodeCommandHandler(IPeerHost host, NeuralMesh mesh) : INeuralCommandHandler
{
    public bool CanHandle(Command command) => command.Name is "ping" or "echo" or "status";

    public ValueTask<Response> HandleAsync(ReceivedMessage<Command> command, CancellationToken cancellationToken) =>
        ValueTask.FromResult(command.Body.Name switch
        {
            "ping" => new Response { Success = true, Content = "pong" },
            "echo" => new Response { Success = true, Content = string.Join(' ', command.Body.Args) },
            _ => new Response
            {
                Success = true,
                Content = $"peer {host.PeerId}, {host.GetConnections().Select(c => c.RemotePeer).Distinct().Count()} connected peers, "
                    + $"agents: {(mesh.LocalAgents.Count == 0 ? "none" : string.Join(", ", mesh.LocalAgents))}",
            },
        });
}
