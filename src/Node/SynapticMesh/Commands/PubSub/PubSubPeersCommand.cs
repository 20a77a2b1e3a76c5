using System.CommandLine;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using P2PStack.Protocols.GossipSub;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p pubsub peers &lt;topic&gt;</c>: peers known to be subscribed to a topic, whether they are in this node's mesh, their score.</summary>
public static class PubSubPeersCommand
{
    public sealed record TopicPeersResponse(string Topic, IReadOnlyList<TopicPeer> Peers);

    public sealed record TopicPeer(string PeerId, bool InMesh, double Score);

    public static Command Create(CommandContextFactory contexts)
    {
        var topic = new Argument<string>("topic") { Description = "The gossipsub topic" };
        var command = new Command("peers", "List the peers subscribed to a topic") { topic };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string name = parse.GetValue(topic)!;
            if (PubSubPayload.TopicError(name) is { } error) throw CliException.Usage(error);
            using var client = ControlClient.Open(context);
            var result = await client.GetAsync<TopicPeersResponse>($"v1/pubsub/peers?topic={Uri.EscapeDataString(name)}", cancellationToken);
            context.Output.Table(result, () =>
            {
                var table = new Table("PEER ID", "MESH", "SCORE");
                foreach (var peer in result.Peers) table.Add(peer.PeerId, peer.InMesh ? "yes" : "no", peer.Score.ToString("0.##", CultureInfo.InvariantCulture));
                return table;
            }, $"{result.Peers.Count} peer{(result.Peers.Count == 1 ? "" : "s")} subscribed to {TerminalText.Escape(result.Topic)}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/pubsub/peers", (string topic, GossipSubService pubsub) =>
        {
            if (PubSubPayload.TopicError(topic) is { } error) throw ApiException.BadRequest(error);
            var mesh = pubsub.GetMeshPeers(topic).ToHashSet();
            return new TopicPeersResponse(topic, [.. pubsub.GetPeers(topic)
                .Select(p => new TopicPeer(p.ToString(), mesh.Contains(p), pubsub.GetScore(p)))
                .OrderBy(p => p.PeerId, StringComparer.Ordinal)]);
        });
}
