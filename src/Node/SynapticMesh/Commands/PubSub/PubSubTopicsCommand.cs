using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using P2PStack.Protocols.GossipSub;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p pubsub topics</c>: the topics this node is subscribed to (by subscribe, or by joined swarms), with their peers.</summary>
public static class PubSubTopicsCommand
{
    public sealed record TopicsResponse(IReadOnlyList<TopicInfo> Topics);

    public sealed record TopicInfo(string Topic, int Peers, int MeshPeers);

    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("topics", "List the topics this node is subscribed to");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context);
            var result = await client.GetAsync<TopicsResponse>("v1/pubsub/topics", cancellationToken);
            context.Output.Table(result, () =>
            {
                var table = new Table("TOPIC", "PEERS", "MESH");
                foreach (var topic in result.Topics) table.Add(topic.Topic, $"{topic.Peers}", $"{topic.MeshPeers}");
                return table;
            }, $"{result.Topics.Count} topic{(result.Topics.Count == 1 ? "" : "s")}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/pubsub/topics", (GossipSubService pubsub) =>
            new TopicsResponse([.. pubsub.GetTopics().Order(StringComparer.Ordinal)
                .Select(t => new TopicInfo(t, pubsub.GetPeers(t).Count, pubsub.GetMeshPeers(t).Count))]));
}
