using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Neural;
using P2PStack.Protocols.GossipSub;
using MessageType = P2PStack.Neural.Messages.MessageType;

namespace SynapticMesh.Api;

/// <summary>
/// The payload limits of the running node (<c>GET /v1/limits</c>), one number per kind of payload, so the CLI and the
/// node state the same limit in the same words (<see cref="Cli.ContentInput.TooLarge"/>).
/// </summary>
public sealed record NodeLimits(int MessageContentBytes, int CommandContentBytes, int PublishBytes)
{
    /// <summary>Bytes of a body besides its content (field tags, lengths, a status or success flag).</summary>
    private const int BodyOverhead = 16;

    /// <summary>Bytes of a signed pubsub message besides its data and topic (from, seqno, signature, key, tags).</summary>
    private const int PubSubOverhead = 256;

    /// <summary>
    /// A command body repeats its text as name and arguments (each with a tag and length), so it holds a third of
    /// what other bodies hold; every other type holds the body limit less the overhead.
    /// </summary>
    public static NodeLimits From(NeuralMeshOptions neural, GossipSubOptions? gossip) => new(
        neural.MaxBodySize - BodyOverhead,
        (neural.MaxBodySize - BodyOverhead) / 3,
        gossip is null ? 0 : Math.Min(gossip.MaxMessageSize, gossip.MaxRpcSize - 16) - PubSubOverhead);

    public int ContentLimit(MessageType type) => type == MessageType.Command ? CommandContentBytes : MessageContentBytes;

    /// <summary>Data bytes one publish to <paramref name="topic"/> may carry.</summary>
    public int PublishLimit(string topic) => PublishBytes - Encoding.UTF8.GetByteCount(topic);

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/limits", (IServiceProvider services) => Current(services));

    public static NodeLimits Current(IServiceProvider services) =>
        From(services.GetRequiredService<IOptions<NeuralMeshOptions>>().Value, services.GetService<IOptions<GossipSubOptions>>()?.Value);
}
