namespace P2PStack.Consensus.Dag;

/// <summary>
/// DAG consensus as an application uses it: propose payloads, learn their fate, watch decisions. Registered by
/// <c>AddDagConsensus</c>; <see cref="DagConsensus"/> is the implementation.
/// </summary>
public interface IDagConsensus
{
    /// <summary>
    /// Signs a vertex carrying <paramref name="payload"/> (with <paramref name="conflictKeys"/>: vertices sharing a key
    /// conflict and at most one of them is accepted), adds it to the DAG and starts voting on it. Returns once the
    /// vertex exists; <see cref="DagProposal.Decision"/> completes when it is accepted or rejected here.
    /// </summary>
    /// <exception cref="ConflictKeyInUseException">This node already proposed a vertex with one of the keys.</exception>
    /// <exception cref="ArgumentException">The payload, a key or the vertex is over a limit.</exception>
    /// <exception cref="Network.ResourceLimitExceededException">Too many undecided vertices.</exception>
    Task<DagProposal> ProposeAsync(ReadOnlyMemory<byte> payload, IReadOnlyCollection<ConflictKey>? conflictKeys = null,
        CancellationToken cancellationToken = default);

    /// <summary>A vertex was accepted here (final).</summary>
    event EventHandler<DagDecisionEventArgs>? Accepted;

    /// <summary>A vertex was rejected here (final): it lost its conflict, or an ancestor did.</summary>
    event EventHandler<DagDecisionEventArgs>? Rejected;

    /// <summary>A vertex was decided here, either way (raised after <see cref="Accepted"/> or <see cref="Rejected"/>).</summary>
    event EventHandler<DagDecisionEventArgs>? Finalized;

    /// <summary>An author signed two vertices with one conflict key; the event carries the proof.</summary>
    event EventHandler<EquivocationEventArgs>? EquivocationDetected;

    /// <summary>Counts, frontier, undecided vertices, members.</summary>
    Task<DagStatus> GetStatusAsync(CancellationToken cancellationToken = default);

    /// <summary>What this node knows of a vertex, or null.</summary>
    Task<VertexInfo?> GetVertexAsync(VertexId id, CancellationToken cancellationToken = default);

    /// <summary>A live feed of vertices added and decided and of equivocations (dispose to stop). A reader that does
    /// not keep up loses the oldest events.</summary>
    DagWatcher Watch();
}

/// <summary>A vertex this node proposed, and its decision to come.</summary>
public sealed record DagProposal(DagVertex Vertex, Task<DagDecision> Decision)
{
    public VertexId Id => Vertex.Id;
}

public sealed class DagDecisionEventArgs(DagDecision decision) : EventArgs
{
    public DagDecision Decision { get; } = decision;
}

public sealed class EquivocationEventArgs(EquivocationProof proof) : EventArgs
{
    public EquivocationProof Proof { get; } = proof;
}

/// <summary>What a <see cref="DagWatcher"/> reports.</summary>
public enum DagEventKind
{
    /// <summary>A vertex arrived (or was proposed here) and is being voted on.</summary>
    Added,
    Accepted,
    Rejected,
    Equivocation,
}

/// <summary>One event of a <see cref="DagWatcher"/>.</summary>
/// <param name="Decision">For accepted and rejected.</param>
/// <param name="Proof">For an equivocation.</param>
public sealed record DagEvent(DagEventKind Kind, DagVertex Vertex, DateTimeOffset At, DagDecision? Decision = null, EquivocationProof? Proof = null);

/// <summary>The state of the DAG at one moment.</summary>
/// <param name="Frontier">Tips (greatest height first, at most the requested number).</param>
/// <param name="Undecided">Vertices being voted on (lowest first, at most the requested number).</param>
/// <param name="Members">Voters, this node included.</param>
/// <param name="Counters">The engine's totals (its refusals included).</param>
/// <param name="SendsLimited">Messages not sent because <see cref="DagConsensusOptions.MaxConcurrentSends"/> sends were
/// being queued already.</param>
/// <param name="SendsFailed">Messages the neural mesh could not deliver (peer unreachable).</param>
/// <param name="DecodeRefused">Messages refused before the engine (not decodable, wrong body, announcements out of
/// place), by reason label.</param>
public sealed record DagStatus(string Name, string Membership, int Members, IReadOnlyList<VertexId> Frontier, int Tips, long Accepted, long Rejected,
    int Processing, int Pending, int Vertices, int OutstandingPolls, IReadOnlyList<EquivocationProof> Equivocations, DagCounters Counters,
    IReadOnlyDictionary<string, long> DecodeRefused, long InboxDropped, long SendsLimited, long SendsFailed, IReadOnlyList<VertexId> Undecided)
{
    /// <summary>Decided vertices.</summary>
    public long Finalized => Accepted + Rejected;
}
