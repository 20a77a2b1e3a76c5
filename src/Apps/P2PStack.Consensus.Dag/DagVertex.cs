using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

/// <summary>A vertex whose envelope, signature and structure were checked (its parents may not be known yet).</summary>
public sealed class DagVertex
{
    internal DagVertex(VertexId id, PeerId author, VertexId[] parents, ulong height, DateTimeOffset timestamp, ConflictKey[] conflictKeys,
        ReadOnlyMemory<byte> payload, byte[] envelope)
    {
        Id = id;
        Author = author;
        Parents = parents;
        Height = height;
        Timestamp = timestamp;
        ConflictKeys = conflictKeys;
        Payload = payload;
        Envelope = envelope;
    }

    public VertexId Id { get; }

    /// <summary>The signer of the envelope.</summary>
    public PeerId Author { get; }

    /// <summary>Parent ids, strictly ascending.</summary>
    public IReadOnlyList<VertexId> Parents { get; }

    /// <summary>0 for a vertex without parents, else 1 + the greatest parent height.</summary>
    public ulong Height { get; }

    /// <summary>Creation time by the author's clock (milliseconds).</summary>
    public DateTimeOffset Timestamp { get; }

    /// <summary>Conflict keys, strictly ascending; empty for a vertex that can conflict with nothing.</summary>
    public IReadOnlyList<ConflictKey> ConflictKeys { get; }

    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>The encoded signed envelope (what travels and what the id hashes).</summary>
    public byte[] Envelope { get; }

    public override string ToString() => $"vertex {Id.ToShortString()} by {Author} at height {Height}";
}
