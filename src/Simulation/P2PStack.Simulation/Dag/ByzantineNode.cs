using Google.Protobuf;
using P2PStack.Consensus.Dag;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;

namespace P2PStack.Simulation.Dag;

/// <summary>
/// A byzantine voter (a test double): it runs a real engine for its view of the DAG, but lies where its kind says
/// (<see cref="ByzantineKind"/>): in its votes, by withholding vertices, or by signing conflicting vertices. It is a
/// member like any other; honest nodes have no way to tell it apart except by what it sends.
/// </summary>
internal sealed class ByzantineNode(ByzantineKind kind, ModelNode node, DagModel model, Random random)
{
    public ByzantineKind Kind { get; } = kind;

    /// <summary>What of the engine's own output goes out: voters replace the engine's votes with their own,
    /// withholders serve no vertices or frontiers and push nothing.</summary>
    public DagMessage? Filter(DagMessage message)
    {
        switch (Kind)
        {
            case ByzantineKind.RandomVoter or ByzantineKind.BothSides when message.KindCase == DagMessage.KindOneofCase.Votes:
            case ByzantineKind.Withholder when message.KindCase is DagMessage.KindOneofCase.Vertices or DagMessage.KindOneofCase.Frontier:
                return null;
            case ByzantineKind.Withholder when message.KindCase == DagMessage.KindOneofCase.Query && message.Query.Vertices.Count > 0:
                var stripped = message.Clone();
                stripped.Query.Vertices.Clear();
                return stripped;
            default:
                return message;
        }
    }

    public void Receive(PeerId from, DagMessage message, DateTimeOffset now)
    {
        node.Engine.Receive(from, message, now);
        if (message.KindCase != DagMessage.KindOneofCase.Query || Kind is not (ByzantineKind.RandomVoter or ByzantineKind.BothSides)) return;
        var ids = message.Query.Ids.Select(b => b.Length == VertexId.Length ? VertexId.FromBytes(b.Span) : default).ToArray();
        var preferred = new byte[(ids.Length + 7) / 8];
        bool both = Kind == ByzantineKind.BothSides && random.Next(4) == 0;
        for (int i = 0; i < ids.Length; i++)
        {
            bool yes = Kind == ByzantineKind.RandomVoter ? random.Next(2) == 1 : both || FavoursMinority(ids[i]);
            if (yes) preferred[i / 8] |= (byte)(1 << (i % 8));
        }
        model.Transmit(node, from, new DagMessage { RequestId = message.RequestId, Votes = new Votes { Preferred = ByteString.CopyFrom(preferred) } });
    }

    // Yes for a vertex that, in each of its conflict sets, has the fewest honest supporters: whatever the querier
    // prefers, it hears the other side, which is what keeps a network split if anything can.
    private bool FavoursMinority(VertexId id)
    {
        if (node.Engine.Find(id) is not { } info) return false;
        foreach (var key in info.Vertex.ConflictKeys)
        {
            var support = model.HonestSupport(key);
            var members = model.Members(key);
            if (members.Count < 2) continue;
            int mine = support.GetValueOrDefault(id);
            if (members.Any(other => other != id && support.GetValueOrDefault(other) < mine)) return false;
        }
        return true;
    }

    /// <summary>What the node does when the honest proposals go out.</summary>
    public void Act(IReadOnlyList<ConflictKey> contested, DateTimeOffset now)
    {
        var honest = model.Honest.ToList();
        if (honest.Count == 0) return;
        var keys = new List<ConflictKey> { ConflictKey.FromText($"byzantine-{node.Index}") };
        if (contested.Count > 0) keys.Add(contested[random.Next(contested.Count)]);
        switch (Kind)
        {
            case ByzantineKind.Equivocator:
                foreach (var key in keys) Equivocate(key, honest, now);
                break;
            case ByzantineKind.Withholder:
                foreach (var key in keys) Withhold(key, honest, now);
                break;
        }
    }

    // Two vertices with the same key, each pushed to half of the honest nodes at the same moment.
    private void Equivocate(ConflictKey key, List<ModelNode> honest, DateTimeOffset now)
    {
        var a = Vertex(key, [], 0, now);
        var b = Vertex(key, [], 0, now);
        model.RecordEquivocation(node.Peer, a.Id, b.Id);
        var order = honest.OrderBy(_ => random.Next()).ToList();
        for (int i = 0; i < order.Count; i++) Push(order[i], i % 2 == 0 ? a : b);
    }

    // A vertex announced (its id in queries) but never handed out, and a child of it that is pushed: honest nodes
    // must give up on both without stalling.
    private void Withhold(ConflictKey key, List<ModelNode> honest, DateTimeOffset now)
    {
        var hidden = Vertex(key, [], 0, now);
        var child = Vertex(null, [hidden.Id], 1, now);
        int k = Math.Min(model.Consensus.K, honest.Count);
        foreach (var target in honest.OrderBy(_ => random.Next()).Take(k))
        {
            model.Transmit(node, target.Peer, Query([hidden.Id], []));
            model.Transmit(node, target.Peer, Query([child.Id], [child]));
        }
    }

    private void Push(ModelNode target, DagVertex vertex) => model.Transmit(node, target.Peer, Query([vertex.Id], [vertex]));

    private DagMessage Query(VertexId[] ids, DagVertex[] pushed)
    {
        var query = new Query();
        foreach (var id in ids) query.Ids.Add(ByteString.CopyFrom(id.ToBytes()));
        foreach (var vertex in pushed) query.Vertices.Add(ByteString.CopyFrom(vertex.Envelope));
        return new DagMessage { RequestId = (ulong)random.NextInt64(1, long.MaxValue), Query = query };
    }

    private DagVertex Vertex(ConflictKey? key, VertexId[] parents, ulong height, DateTimeOffset now)
    {
        var payload = new byte[16];
        random.NextBytes(payload);
        return VertexCodec.Seal(model.Consensus, parents, height, now, key is null ? [] : [key], payload, node.Key);
    }
}
