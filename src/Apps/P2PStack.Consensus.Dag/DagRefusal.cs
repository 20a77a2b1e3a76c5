namespace P2PStack.Consensus.Dag;

/// <summary>Why a vertex or a message from the network was refused; each is counted
/// (<c>p2pstack_dag_refused_total{reason}</c>).</summary>
public enum DagRefusal
{
    /// <summary>Does not decode, or breaks a structural rule (ordering, lengths, counts, bitmap size).</summary>
    Malformed,
    /// <summary>Over a size limit (vertex, payload, query, batch).</summary>
    Oversized,
    /// <summary>The vertex envelope does not verify.</summary>
    BadSignature,
    /// <summary>A vertex of another DAG instance.</summary>
    WrongDag,
    /// <summary>A vertex timestamped further in the future than the allowed clock skew.</summary>
    ClockSkew,
    /// <summary>The height is not 1 + the greatest parent height (this also rules out cycles).</summary>
    BadHeight,
    /// <summary>A request or vote from a peer outside the membership.</summary>
    NonMember,
    /// <summary>An answer nobody asked for: unknown request id, or from another peer than the one asked.</summary>
    Unsolicited,
    /// <summary>A vote marking two conflicting vertices (or their descendants) as preferred.</summary>
    ContradictoryVote,
    /// <summary>Too many vertices are waiting for their parents (in all, or from this peer).</summary>
    PendingFull,
    /// <summary>Too many vertices are undecided.</summary>
    ProcessingFull,
    /// <summary>A vertex whose parents did not arrive in time was dropped.</summary>
    UnknownParents,
    /// <summary>A fetched vertex whose id is not one asked for, and no ancestor of one.</summary>
    NotRequested,
    /// <summary>An announcement from a new peer while the member table is full.</summary>
    MembershipFull,
}

public static class DagRefusals
{
    /// <summary>The Prometheus label value: snake_case.</summary>
    public static string Label(this DagRefusal reason) => reason switch
    {
        DagRefusal.Malformed => "malformed",
        DagRefusal.Oversized => "oversized",
        DagRefusal.BadSignature => "bad_signature",
        DagRefusal.WrongDag => "wrong_dag",
        DagRefusal.ClockSkew => "clock_skew",
        DagRefusal.BadHeight => "bad_height",
        DagRefusal.NonMember => "non_member",
        DagRefusal.Unsolicited => "unsolicited",
        DagRefusal.ContradictoryVote => "contradictory_vote",
        DagRefusal.PendingFull => "pending_full",
        DagRefusal.ProcessingFull => "processing_full",
        DagRefusal.UnknownParents => "unknown_parents",
        DagRefusal.NotRequested => "not_requested",
        DagRefusal.MembershipFull => "membership_full",
        _ => "unknown",
    };

    public static IReadOnlyList<DagRefusal> All { get; } = Enum.GetValues<DagRefusal>();
}

/// <summary>A vertex or DAG message from outside is malformed or invalid; <see cref="Reason"/> says how.</summary>
public sealed class DagFormatException : P2PFormatException
{
    public DagFormatException(DagRefusal reason, string message) : base(message) => Reason = reason;

    public DagFormatException(DagRefusal reason, string message, Exception? inner) : base(message, inner) => Reason = reason;

    public DagRefusal Reason { get; }
}

/// <summary>This node already authored a vertex with the conflict key: proposing another would equivocate.</summary>
public sealed class ConflictKeyInUseException(ConflictKey key, VertexId existing)
    : InvalidOperationException($"this node already proposed vertex {existing} with conflict key '{key}'; a second vertex with it would equivocate")
{
    public ConflictKey Key { get; } = key;

    public VertexId Existing { get; } = existing;
}
