namespace P2PStack.Simulation.Dag;

/// <summary>Figures and verdicts of one model run.</summary>
/// <param name="SafetyViolations">Conflict keys for which honest nodes accepted different vertices, or an honest node
/// accepted a vertex another honest node rejected (empty when safe).</param>
/// <param name="Undecided">(honest node, virtuous proposal) pairs not accepted at the end (empty when live).</param>
/// <param name="Conflicts">Conflict keys contested by honest proposals.</param>
/// <param name="ConflictsResolved">Of those, the keys every honest node accepted a vertex for.</param>
/// <param name="Unresolved">(honest node, contested key) pairs without an accepted vertex at the end. Avalanche
/// guarantees liveness only for virtuous vertices: a conflict split several ways (e.g. by equivocators adding
/// vertices to it) may stay undecided.</param>
/// <param name="VirtuousLatenciesMs">Proposal to acceptance, every (honest node, virtuous proposal) pair.</param>
/// <param name="ConflictLatenciesMs">First proposal of a contested key to the acceptance of one of its vertices, every
/// (honest node, contested key) pair.</param>
/// <param name="LostBeforeArrival">(honest node, contested proposal) pairs where the node never received the
/// proposal but accepted another vertex of its key (so it would reject it on arrival): decided, without a latency.</param>
/// <param name="Messages">Messages sent by all nodes (every kind) from the first proposal to the end.</param>
/// <param name="Decisions">Distinct honest proposals decided everywhere.</param>
/// <param name="EquivocationsExpected">(honest node, equivocating author) pairs that should be reported: the
/// honest node held both vertices of one of the author's pairs.</param>
/// <param name="EquivocationsReported">Of those, the ones reported with a proof that verifies.</param>
/// <param name="VertexChecks">Vertex envelopes checked for real (signature and structure) by the engines.</param>
/// <param name="VertexChecksShared">Vertex envelopes answered from an earlier check of the same bytes
/// (<see cref="DagModelOptions.ShareVertexChecks"/>).</param>
/// <param name="Keys">Each contested key at the end of the run (for explaining which keys stay split).</param>
/// <param name="EnvelopesVerified">Signed neural envelopes verified on delivery (<see cref="DagModelOptions.SignEnvelopes"/>).</param>
public sealed record DagModelResult(int Nodes, int Seed, int Byzantine, string ByzantineKinds, IReadOnlyList<string> SafetyViolations,
    IReadOnlyList<string> Undecided, int Conflicts, int ConflictsResolved, IReadOnlyList<string> Unresolved, IReadOnlyList<double> VirtuousLatenciesMs, IReadOnlyList<double> ConflictLatenciesMs,
    int LostBeforeArrival, long Messages, long Bytes, long Polls, int Decisions, int EquivocationsExpected, int EquivocationsReported, long Refused,
    IReadOnlyDictionary<string, long> RefusedByReason, TimeSpan VirtualDuration, TimeSpan WallTime, long VertexChecks = 0, long VertexChecksShared = 0,
    long EnvelopesVerified = 0, IReadOnlyList<ContestedKeyOutcome>? Keys = null)
{
    public bool Safe => SafetyViolations.Count == 0;

    /// <summary>Every virtuous proposal was accepted by every honest node.</summary>
    public bool Live => Undecided.Count == 0;

    /// <summary>Every contested key was resolved at every honest node.</summary>
    public bool AllConflictsResolved => ConflictsResolved == Conflicts;

    /// <summary>Messages (all nodes) per decided proposal.</summary>
    public double MessagesPerDecision => Decisions == 0 ? double.NaN : Messages / (double)Decisions;

    /// <summary>Polls started (all nodes) per decided proposal.</summary>
    public double PollsPerDecision => Decisions == 0 ? double.NaN : Polls / (double)Decisions;

    public override string ToString() =>
        $"DAG model N={Nodes} seed={Seed} byzantine={Byzantine} ({ByzantineKinds}): {(Safe ? "safe" : "UNSAFE: " + string.Join("; ", SafetyViolations))}, " +
        $"{(Live ? "live" : $"NOT LIVE ({Undecided.Count} undecided, e.g. {string.Join("; ", Undecided.Take(3))})")}; " +
        $"conflicts resolved {ConflictsResolved}/{Conflicts}; " +
        $"virtuous p50 {Statistics.Percentile(VirtuousLatenciesMs, 50):F0} ms p99 {Statistics.Percentile(VirtuousLatenciesMs, 99):F0} ms; " +
        $"contested p50 {Statistics.Percentile(ConflictLatenciesMs, 50):F0} ms p99 {Statistics.Percentile(ConflictLatenciesMs, 99):F0} ms; " +
        $"{Decisions} decisions, {MessagesPerDecision:F0} messages and {PollsPerDecision:F1} polls per decision, {Bytes / 1024.0:F0} KiB; " +
        $"equivocations reported {EquivocationsReported}/{EquivocationsExpected}; refused {Refused}; virtual {VirtualDuration.TotalSeconds:F2} s, wall {WallTime.TotalSeconds:F2} s";
}

/// <summary>One contested key at the end of a run.</summary>
/// <param name="Vertices">Distinct vertices of the key held by honest nodes (2 honest proposals, 2 per equivocator on it).</param>
/// <param name="Equivocators">Equivocating authors that signed a pair on this key.</param>
/// <param name="Resolved">Every honest node accepted one of its vertices.</param>
/// <param name="Accepted">Honest nodes that accepted a vertex of the key.</param>
/// <param name="LargestShare">Honest nodes whose preference (or accepted vertex) is the most common one.</param>
/// <param name="Preferences">Distinct vertices preferred (or accepted) by honest nodes.</param>
public sealed record ContestedKeyOutcome(int Vertices, int Equivocators, bool Resolved, int Accepted, int LargestShare, int Preferences);
