using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// Proof that <see cref="Author"/> equivocated: two different vertices, both signed by it, that share the conflict key
/// <see cref="Key"/>. Anyone can check it with <see cref="Verify"/> from the two envelopes alone.
/// </summary>
public sealed class EquivocationProof
{
    private EquivocationProof(DagVertex first, DagVertex second, ConflictKey key, DateTimeOffset detectedAt)
    {
        First = first;
        Second = second;
        Key = key;
        DetectedAt = detectedAt;
    }

    public PeerId Author => First.Author;

    public ConflictKey Key { get; }

    /// <summary>The vertex seen first.</summary>
    public DagVertex First { get; }

    public DagVertex Second { get; }

    public DateTimeOffset DetectedAt { get; }

    internal static EquivocationProof Create(DagVertex first, DagVertex second, ConflictKey key, DateTimeOffset detectedAt)
    {
        if (first.Author != second.Author || first.Id == second.Id || !first.ConflictKeys.Contains(key) || !second.ConflictKeys.Contains(key))
            throw new ArgumentException("not an equivocation");
        return new EquivocationProof(first, second, key, detectedAt);
    }

    /// <summary>
    /// Checks a proof from its two envelopes: both verify as vertices of the DAG in <paramref name="options"/>, are
    /// different, have the same signer, and share a conflict key.
    /// </summary>
    /// <exception cref="DagFormatException">An envelope does not verify, or the two do not prove an equivocation.</exception>
    public static EquivocationProof Verify(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, DagConsensusOptions options, DateTimeOffset now)
    {
        // The clock-skew rule is for fresh vertices; a proof may be checked long before or after.
        var a = VertexCodec.Open(first, options, DateTimeOffset.MaxValue - options.MaxClockSkew);
        var b = VertexCodec.Open(second, options, DateTimeOffset.MaxValue - options.MaxClockSkew);
        if (a.Id == b.Id) throw new DagFormatException(DagRefusal.Malformed, "the two envelopes are the same vertex");
        if (a.Author != b.Author) throw new DagFormatException(DagRefusal.Malformed, $"signed by {a.Author} and {b.Author}");
        var shared = a.ConflictKeys.Intersect(b.ConflictKeys).Order().FirstOrDefault()
            ?? throw new DagFormatException(DagRefusal.Malformed, "the two vertices share no conflict key");
        return new EquivocationProof(a, b, shared, now);
    }

    public override string ToString() => $"{Author} signed {First.Id.ToShortString()} and {Second.Id.ToShortString()}, both with conflict key '{Key}'";
}
