using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// Parameters of DAG consensus. The voting defaults are Avalanche's production values (Snowman: k = 20,
/// alpha = 15, beta = 20); docs/specs/dag.md maps the seed system's parameter names onto these.
/// </summary>
public sealed class DagConsensusOptions
{
    /// <summary>Name of the DAG instance: vertices carry it and only vertices of this DAG are accepted.</summary>
    public string Name { get; set; } = "main";

    // ---- Snowball ----

    /// <summary>Sample size k: members queried per poll (fewer when the membership has fewer other members).</summary>
    public int K { get; set; } = 20;

    /// <summary>Votes (out of <see cref="K"/>) a vertex needs in a poll to gain preference strength.</summary>
    public int AlphaPreference { get; set; } = 15;

    /// <summary>Votes (out of <see cref="K"/>) a poll must give a vertex to count towards its confidence.</summary>
    public int AlphaConfidence { get; set; } = 15;

    /// <summary>Consecutive successful polls after which a preferred vertex whose parents are accepted is accepted.</summary>
    public int Beta { get; set; } = 20;

    /// <summary>Polls in flight at once while any vertex is undecided.</summary>
    public int MaxOutstandingPolls { get; set; } = 4;

    /// <summary>A poll ends this long after it was sent; members that have not answered count as not voting.</summary>
    public TimeSpan PollTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Least time between starting two polls (zero: as soon as a poll slot is free).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Least time between starting two polls once <see cref="IdleAfterPolls"/> polls in a row moved nothing (no
    /// undecided vertex got alpha votes: e.g. only a conflict split several ways is left). Polling goes back to full
    /// speed when a vertex arrives or a poll succeeds again; zero: never slow down.
    /// </summary>
    public TimeSpan IdlePollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Polls in a row without progress after which polling slows to <see cref="IdlePollInterval"/>.</summary>
    public int IdleAfterPolls { get; set; } = 16;

    // ---- Vertices ----

    public int MaxParents { get; set; } = 16;

    /// <summary>Parents a new local vertex takes from the preferred frontier (at most <see cref="MaxParents"/>).</summary>
    public int ParentsPerVertex { get; set; } = 4;

    public int MaxConflictKeys { get; set; } = 16;

    public int MaxConflictKeyLength { get; set; } = 64;

    public int MaxPayloadSize { get; set; } = 16 * 1024;

    /// <summary>Largest encoded signed vertex envelope.</summary>
    public int MaxVertexSize { get; set; } = 20 * 1024;

    /// <summary>A vertex timestamped further than this in the future is refused.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Undecided vertices held at once; further vertices are refused until some are decided.</summary>
    public int MaxProcessing { get; set; } = 10_000;

    /// <summary>Undecided vertices of one author held at once (a member cannot fill the DAG faster than it decides).</summary>
    public int MaxProcessingPerAuthor { get; set; } = 1_000;

    // ---- Queries, fetching, catch-up ----

    /// <summary>Most vertex ids one query asks about (leaves first: a vote for a vertex counts for its ancestry).</summary>
    public int MaxQueryIds { get; set; } = 128;

    /// <summary>Most vertices pushed with one query.</summary>
    public int MaxPushedVertices { get; set; } = 8;

    /// <summary>Most ids one vertex request names.</summary>
    public int MaxFetchIds { get; set; } = 64;

    /// <summary>Generations of ancestors asked for with a missing vertex (one round trip fetches a whole gap).</summary>
    public int FetchAncestors { get; set; } = 64;

    /// <summary>Most vertices in one answer to a vertex request.</summary>
    public int MaxBatchVertices { get; set; } = 256;

    /// <summary>Most envelope bytes in one answer to a vertex request (below the neural body limit).</summary>
    public int MaxBatchBytes { get; set; } = 40 * 1024;

    /// <summary>Most ids in one frontier answer (one page).</summary>
    public int MaxFrontierIds { get; set; } = 512;

    /// <summary>Most tips one sync pages through (a peer claiming more is not followed further).</summary>
    public int MaxFrontierTips { get; set; } = 16_384;

    /// <summary>How long a vertex request may stay unanswered.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>An id still being fetched is asked for again, from the next peer that names it, after this long.</summary>
    public TimeSpan FetchRetryInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Vertex requests in flight at once.</summary>
    public int MaxOutstandingFetches { get; set; } = 256;

    /// <summary>Vertices waiting for missing parents, in all.</summary>
    public int MaxPendingVertices { get; set; } = 10_000;

    /// <summary>Vertices waiting for missing parents that one peer may have caused.</summary>
    public int MaxPendingPerPeer { get; set; } = 2_000;

    /// <summary>How long a vertex may wait for its parents before it is dropped.</summary>
    public TimeSpan PendingTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the node asks random members for their frontier (and at start); zero: only at start.</summary>
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Members asked for their frontier each time.</summary>
    public int SyncPeers { get; set; } = 2;

    // ---- Membership ----

    /// <summary>
    /// The voters: peer ids with optional stake weights. Empty: every peer that announces itself on
    /// <see cref="Swarm"/> votes (open membership; see the spec on Sybil resistance).
    /// </summary>
    public List<DagValidator> Validators { get; } = [];

    /// <summary>Swarm on which members announce themselves (open membership); default <c>dag-NAME</c>.</summary>
    public string? Swarm { get; set; }

    public TimeSpan AnnounceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A member that has not announced itself for this long is dropped.</summary>
    public TimeSpan MemberTtl { get; set; } = TimeSpan.FromSeconds(35);

    public int MaxMembers { get; set; } = 10_000;

    /// <summary>Most addresses an announcement carries (and that are taken from one).</summary>
    public int MaxAnnouncedAddresses { get; set; } = 8;

    // ---- Transport (neural messages) ----

    /// <summary>TTL of the neural messages carrying queries, votes and vertices.</summary>
    public TimeSpan MessageTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Seal DAG messages end to end (neural sealing, docs/specs/neural-seal.md). Off by default, whatever the neural
    /// mesh's <c>SealByDefault</c>: vertices and votes are signed public data that every member may fetch, Noise already
    /// hides them on the wire, and a KEM per query and vote would cost more than the poll it carries.
    /// </summary>
    public bool SealMessages { get; set; }

    /// <summary>Neural priority of queries and votes (0-10).</summary>
    public int VotePriority { get; set; } = 8;

    /// <summary>Neural priority of vertex requests, vertex batches and frontier sync (0-10).</summary>
    public int FetchPriority { get; set; } = 6;

    /// <summary>Neural priority of membership announcements (0-10).</summary>
    public int AnnouncePriority { get; set; } = 3;

    /// <summary>Messages (received messages, proposals) waiting for the consensus loop; further network messages are
    /// dropped and counted.</summary>
    public int InboxCapacity { get; set; } = 8192;

    /// <summary>Sends handed to the neural mesh at once; further sends are dropped and counted (polls tolerate loss).</summary>
    public int MaxConcurrentSends { get; set; } = 512;

    // ---- Storage and API ----

    /// <summary>SQLite database of the DAG (vertices, decisions, equivocation proofs); null keeps it in memory only.</summary>
    public string? DatabasePath { get; set; }

    /// <summary>Events a watcher buffers; a watcher that does not keep up loses the oldest.</summary>
    public int WatcherCapacity { get; set; } = 1024;

    public int MaxWatchers { get; set; } = 64;

    /// <summary>The membership swarm's name.</summary>
    public string SwarmName => Swarm ?? "dag-" + Name;

    /// <summary>The neural <c>proposal_id</c> of this DAG's messages.</summary>
    public string ProtocolTag => "dag:" + Name;

    public void Validate()
    {
        if (!IsValidName(Name)) throw new ArgumentException($"DAG name '{Name}' is invalid: use 1 to 64 of A-Z a-z 0-9 . _ -");
        if (Swarm is not null && !IsValidName(Swarm)) throw new ArgumentException($"swarm name '{Swarm}' is invalid");
        ArgumentOutOfRangeException.ThrowIfLessThan(K, 1);
        if (AlphaPreference <= K / 2 || AlphaPreference > K)
            throw new ArgumentOutOfRangeException(nameof(AlphaPreference), $"alpha (preference) must be more than k/2 and at most k = {K}");
        if (AlphaConfidence < AlphaPreference || AlphaConfidence > K)
            throw new ArgumentOutOfRangeException(nameof(AlphaConfidence), $"alpha (confidence) must be from alpha (preference) to k = {K}");
        ArgumentOutOfRangeException.ThrowIfLessThan(Beta, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutstandingPolls, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PollTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(PollInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(IdlePollInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(IdleAfterPolls, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxParents, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ParentsPerVertex, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ParentsPerVertex, MaxParents);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxConflictKeys);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConflictKeyLength, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxPayloadSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxVertexSize, 256);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxClockSkew, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxProcessing, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxProcessingPerAuthor, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxQueryIds, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxPushedVertices);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFetchIds, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(FetchAncestors);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchVertices, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatchBytes, MaxVertexSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFrontierIds, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFrontierTips, MaxFrontierIds);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(FetchTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutstandingFetches, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(FetchRetryInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingVertices, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingPerPeer, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PendingTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(SyncInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(SyncPeers);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(AnnounceInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MemberTtl, AnnounceInterval);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMembers, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxAnnouncedAddresses);
        ArgumentOutOfRangeException.ThrowIfLessThan(MessageTtl, TimeSpan.FromSeconds(1));
        foreach (int priority in (int[])[VotePriority, FetchPriority, AnnouncePriority])
        {
            ArgumentOutOfRangeException.ThrowIfNegative(priority);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, 10);
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(InboxCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentSends, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(WatcherCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxWatchers, 1);
        var seen = new HashSet<PeerId>();
        foreach (var validator in Validators)
        {
            ArgumentNullException.ThrowIfNull(validator);
            ArgumentOutOfRangeException.ThrowIfLessThan(validator.Weight, 1UL, nameof(Validators));
            if (!seen.Add(validator.Peer)) throw new ArgumentException($"validator {validator.Peer} is listed twice", nameof(Validators));
        }
    }

    internal static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64) return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return false;
        return true;
    }
}

/// <summary>A voter of a configured validator set, with its stake weight (sampling is proportional to it).</summary>
public sealed record DagValidator(PeerId Peer, ulong Weight = 1);
