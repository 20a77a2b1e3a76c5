using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

/// <summary>A vertex in the engine's graph, with its Snowball state.</summary>
internal sealed class VertexNode(DagVertex vertex, VertexNode[] parents, ConflictSet[] sets, DateTimeOffset firstSeen, bool local, long addedAtPoll)
{
    public DagVertex Vertex { get; } = vertex;

    public VertexId Id => Vertex.Id;

    private Google.Protobuf.ByteString? _idBytes;

    /// <summary>The id as sent in queries, made once (a node is asked about in many polls).</summary>
    public Google.Protobuf.ByteString IdBytes => _idBytes ??= Id.ToByteString();

    public ulong Height => Vertex.Height;

    public VertexNode[] Parents { get; } = parents;

    public List<VertexNode> Children { get; } = [];

    /// <summary>Children that are not rejected: a node with none is a tip of the frontier.</summary>
    public int LiveChildren { get; set; }

    /// <summary>Processing children (a processing node with none is a leaf of the undecided part).</summary>
    public int ProcessingChildren { get; set; }

    public ConflictSet[] Sets { get; } = sets;

    public VertexStatus Status { get; set; }

    public DateTimeOffset FirstSeen { get; } = firstSeen;

    public DateTimeOffset? DecidedAt { get; set; }

    public bool Local { get; } = local;

    /// <summary>Polls started before this node existed do not count for or against it.</summary>
    public long AddedAtPoll { get; } = addedAtPoll;

    /// <summary>Snowball preference strength: polls in which the node got at least alpha (preference) votes.</summary>
    public int SuccessfulPolls { get; set; }

    /// <summary>Snowflake confidence: consecutive polls in which the node got at least alpha (confidence) votes.</summary>
    public int Confidence { get; set; }

    /// <summary>Whether this node's own vertex still has to be pushed with a query.</summary>
    public bool PushPending { get; set; }

    // Scratch state of vote counting (one poll at a time).
    public long VoteToken { get; set; }

    public int Votes { get; set; }

    public long MarkToken { get; set; }

    // Memo of "strongly preferred" for one preference epoch.
    public long StrongEpoch { get; set; } = -1;

    public bool StrongValue { get; set; }

    public PeerId Author => Vertex.Author;

    public bool IsProcessing => Status == VertexStatus.Processing;

    /// <summary>Preferred in every conflict set it is in (a vertex without conflict keys always is).</summary>
    public bool IsPreferred
    {
        get
        {
            foreach (var set in Sets)
                if (set.Preference != this) return false;
            return true;
        }
    }
}

/// <summary>The vertices sharing one conflict key, and the Snowball preference among the undecided ones.</summary>
internal sealed class ConflictSet(ConflictKey key)
{
    public ConflictKey Key { get; } = key;

    /// <summary>Undecided members.</summary>
    public List<VertexNode> Processing { get; } = [];

    /// <summary>The undecided member with the most successful polls (the first of equals keeps it).</summary>
    public VertexNode? Preference { get; set; }

    /// <summary>The member that was accepted; every other member is rejected.</summary>
    public VertexNode? Accepted { get; set; }

    /// <summary>The first vertex of each author in this set (a second one is an equivocation).</summary>
    public Dictionary<PeerId, VertexNode> ByAuthor { get; } = [];

    // Scratch state of a closure walk: the member the walk met, for the walk whose token this is.
    public long ChoiceToken { get; set; }

    public VertexNode? Choice { get; set; }

    /// <summary>Recomputes the preference; returns whether it changed.</summary>
    public bool UpdatePreference()
    {
        var best = Preference is { IsProcessing: true } current ? current : null;
        foreach (var node in Processing)
            if (best is null || node.SuccessfulPolls > best.SuccessfulPolls) best = node;
        if (best == Preference) return false;
        Preference = best;
        return true;
    }
}

/// <summary>A poll in flight.</summary>
internal sealed class Poll(ulong requestId, long sequence, VertexNode[] nodes, Dictionary<PeerId, int> slots, DateTimeOffset sentAt,
    DateTimeOffset deadline, List<VertexNode> closures)
{
    public ulong RequestId { get; } = requestId;

    public long Sequence { get; } = sequence;

    /// <summary>The vertices asked about, in query order: held here for good (nodes are never removed), so a vote's
    /// bits are read against them without looking ids up.</summary>
    public VertexNode[] Nodes { get; } = nodes;

    /// <summary>Peers asked and not yet answered, with their slots.</summary>
    public Dictionary<PeerId, int> Awaiting { get; } = slots;

    public DateTimeOffset SentAt { get; } = sentAt;

    public DateTimeOffset Deadline { get; } = deadline;

    /// <summary>Counted votes: the bitmap, and where its closure, as computed when it arrived, is in
    /// <see cref="Closures"/>, with the number of vertices that had left processing by then (while no other has, the
    /// closure is still the same).</summary>
    public List<PollResponse> Responses { get; } = new(slots.Count);

    /// <summary>The closures of the counted votes, one after another (a list reused from poll to poll).</summary>
    public List<VertexNode> Closures { get; } = closures;
}

/// <summary>One counted vote of a poll; its closure is <see cref="Poll.Closures"/>[Start..Start + Length].</summary>
internal readonly record struct PollResponse(PeerId Peer, int Slots, Google.Protobuf.ByteString Preferred, int Start, int Length, long Departures);

/// <summary>A vertex request in flight.</summary>
internal sealed record FetchRequest(ulong RequestId, PeerId Peer, VertexId[] Ids, DateTimeOffset Sent, DateTimeOffset Deadline);

/// <summary>A frontier request in flight: one page, from <paramref name="Offset"/>.</summary>
internal sealed record SyncRequest(ulong RequestId, PeerId Peer, DateTimeOffset Deadline, uint Offset);

/// <summary>A vertex waiting for parents this node does not hold yet.</summary>
internal sealed class PendingVertex(DagVertex vertex, PeerId from, HashSet<VertexId> missing, DateTimeOffset expires)
{
    public DagVertex Vertex { get; } = vertex;

    public PeerId From { get; } = from;

    public HashSet<VertexId> Missing { get; } = missing;

    public DateTimeOffset Expires { get; } = expires;
}
