using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

public enum VertexStatus
{
    /// <summary>Undecided: being voted on.</summary>
    Processing = 0,
    Accepted = 1,
    Rejected = 2,
}

/// <summary>Where the engine's messages go. Sends never block: a transport that cannot send drops (polls tolerate loss).</summary>
public interface IDagOutbox
{
    void Send(PeerId to, DagMessage message);
}

/// <summary>The voters. Implementations: <see cref="StaticMembership"/> (a validator set) and
/// <see cref="AnnouncedMembership"/> (peers announcing themselves on a swarm).</summary>
public interface IDagMembership
{
    /// <summary>Whether <paramref name="peer"/> votes (may ask and answer queries).</summary>
    bool Contains(PeerId peer);

    /// <summary>Members other than <paramref name="self"/>.</summary>
    int CountOthers(PeerId self);

    /// <summary>
    /// A poll's sample: <paramref name="k"/> slots over the members other than <paramref name="self"/> (none when there
    /// are no others), as distinct peers with the number of slots each holds.
    /// </summary>
    IReadOnlyList<(PeerId Peer, int Slots)> Sample(PeerId self, int k, Random random);

    /// <summary>A random member other than <paramref name="self"/>, or null.</summary>
    PeerId? Pick(PeerId self, Random random);
}

/// <summary>What the engine tells its host about: decisions, equivocations, refused input.</summary>
public interface IDagEngineObserver
{
    void OnAdded(DagVertex vertex, VertexStatus status, bool local) { }

    void OnDecided(DagDecision decision) { }

    void OnEquivocation(EquivocationProof proof) { }

    void OnRefused(DagRefusal reason, PeerId? from, string detail) { }
}

/// <summary>A vertex was decided here.</summary>
/// <param name="FirstSeen">When this node first held the vertex (proposed it, or received it with all parents).</param>
public sealed record DagDecision(DagVertex Vertex, VertexStatus Outcome, DateTimeOffset FirstSeen, DateTimeOffset DecidedAt, bool Local)
{
    public VertexId Id => Vertex.Id;

    /// <summary>From first holding the vertex here to its decision.</summary>
    public TimeSpan Latency => DecidedAt - FirstSeen;

    /// <summary>From the vertex's timestamp (the author's clock) to its decision here.</summary>
    public TimeSpan SinceCreated => DecidedAt - Vertex.Timestamp;
}

/// <summary>A stored vertex, as <see cref="IDagStore.Load"/> returns it.</summary>
public sealed record StoredVertex(byte[] Envelope, VertexStatus Status, DateTimeOffset FirstSeen, DateTimeOffset? DecidedAt, bool Local);

/// <summary>
/// Persistence of the DAG. The engine writes through it during a step and calls <see cref="Commit"/> at the end of
/// each step, so a step's changes land together.
/// </summary>
public interface IDagStore
{
    /// <summary>Every stored vertex, parents before children (ascending height).</summary>
    IEnumerable<StoredVertex> Load();

    IEnumerable<EquivocationProof> LoadEquivocations(DagConsensusOptions options);

    void Add(DagVertex vertex, VertexStatus status, DateTimeOffset firstSeen, bool local);

    void SetDecided(VertexId id, VertexStatus status, DateTimeOffset decidedAt);

    void AddEquivocation(EquivocationProof proof);

    /// <summary>Looks up a vertex that is no longer held in memory.</summary>
    StoredVertex? Find(VertexId id);

    void Commit();
}

/// <summary>
/// Opens received vertex envelopes for the engine: <see cref="VertexCodec.Open"/> unless the host supplies another
/// (a simulation running many engines in one process may share one check of the same bytes among them).
/// </summary>
public interface IVertexOpener
{
    /// <exception cref="DagFormatException">Refused; <see cref="DagFormatException.Reason"/> says why.</exception>
    DagVertex Open(ReadOnlySpan<byte> envelope, DagConsensusOptions options, DateTimeOffset now);
}
