using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// Avalanche-style consensus over a DAG of signed vertices: the pure state machine, without threads, clocks or
/// sockets. Its host feeds it messages (<see cref="Receive"/>), proposals (<see cref="Propose"/>) and the time
/// (<see cref="Tick"/> at <see cref="GetNextDeadline"/>), and it answers through an <see cref="IDagOutbox"/>. Not
/// thread-safe: one caller at a time. The same code runs in the node (<see cref="DagConsensus"/>) and in the
/// simulations, which drive it with a virtual clock.
/// </summary>
public sealed partial class DagEngine
{
    private readonly DagConsensusOptions _options;
    private readonly PrivateKey _key;
    private readonly IDagMembership _membership;
    private readonly IDagOutbox _outbox;
    private readonly IDagStore _store;
    private readonly IDagEngineObserver _observer;
    private readonly Random _random;
    private readonly IVertexOpener? _opener;

    private readonly Dictionary<VertexId, VertexNode> _nodes = [];
    private readonly HashSet<VertexNode> _processing = [];
    private readonly HashSet<VertexNode> _tips = [];
    private readonly Dictionary<ConflictKey, ConflictSet> _sets = [];
    private readonly HashSet<(PeerId Author, ConflictKey Key)> _reportedEquivocations = [];
    private long _acceptedCount;
    private long _rejectedCount;
    private ulong _nextRequestId;
    // Bumped whenever a preference or a status changes: memoised "strongly preferred" values are then stale (adding a
    // vertex changes neither for the vertices held before it).
    private long _epoch;
    private long _markToken;

    /// <param name="store">Where the DAG persists (loaded here); null keeps it in memory only.</param>
    /// <param name="random">Sampling and request ids; seeded in simulations.</param>
    /// <param name="now">The time the engine starts at (its first sync is due then).</param>
    /// <param name="opener">Checks received vertex envelopes; null: <see cref="VertexCodec.Open"/>.</param>
    public DagEngine(DagConsensusOptions options, PrivateKey key, IDagMembership membership, IDagOutbox outbox, IDagStore? store = null,
        IDagEngineObserver? observer = null, Random? random = null, DateTimeOffset? now = null, IVertexOpener? opener = null)
    {
        _opener = opener;
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _key = key ?? throw new ArgumentNullException(nameof(key));
        _membership = membership ?? throw new ArgumentNullException(nameof(membership));
        _outbox = outbox ?? throw new ArgumentNullException(nameof(outbox));
        _store = store ?? new MemoryDagStore();
        _observer = observer ?? NullObserver.Instance;
        _random = random ?? new Random();
        LocalPeer = PeerId.FromPublicKey(key.PublicKey);
        _nextRequestId = (ulong)_random.NextInt64(1, long.MaxValue);
        _nextSyncAt = now ?? DateTimeOffset.MinValue;
        Restore();
    }

    public PeerId LocalPeer { get; }

    private DagVertex OpenVertex(ReadOnlySpan<byte> envelope, DateTimeOffset now) =>
        _opener is null ? VertexCodec.Open(envelope, _options, now) : _opener.Open(envelope, _options, now);

    public DagConsensusOptions Options => _options;

    public DagCounters Counters { get; } = new();

    public int VertexCount => _nodes.Count;

    public int ProcessingCount => _processing.Count;

    /// <summary>Vertices received whose parents are still being fetched.</summary>
    public int PendingCount => _pending.Count;

    public long AcceptedCount => _acceptedCount;

    public long RejectedCount => _rejectedCount;

    public int OutstandingPolls => _polls.Count;

    public int TipCount => _tips.Count;

    /// <summary>
    /// Creates, signs and adds a vertex with <paramref name="payload"/>, its parents chosen from the preferred
    /// frontier (accepted vertices, and undecided ones that can never be rejected), and starts polling on it.
    /// </summary>
    /// <exception cref="ConflictKeyInUseException">This node already authored a vertex with one of the keys.</exception>
    /// <exception cref="ResourceLimitExceededException">Too many undecided vertices.</exception>
    /// <exception cref="ArgumentException">The vertex breaks a size limit.</exception>
    public DagVertex Propose(ReadOnlySpan<byte> payload, IEnumerable<ConflictKey>? conflictKeys, DateTimeOffset now)
    {
        var keys = (conflictKeys ?? []).Distinct().Order().ToArray();
        foreach (var key in keys)
        {
            if (_sets.TryGetValue(key, out var set) && set.ByAuthor.TryGetValue(LocalPeer, out var mine))
                throw new ConflictKeyInUseException(key, mine.Id);
        }
        if (_processing.Count >= _options.MaxProcessing)
            throw new ResourceLimitExceededException("dag consensus", "undecided vertices", _options.MaxProcessing);
        if (_processingByAuthor.GetValueOrDefault(LocalPeer) >= _options.MaxProcessingPerAuthor)
            throw new ResourceLimitExceededException("dag consensus", "undecided vertices of this node", _options.MaxProcessingPerAuthor);
        var parents = SelectParents();
        ulong height = parents.Count == 0 ? 0 : parents.Max(p => p.Height) + 1;
        var vertex = VertexCodec.Seal(_options, parents.Select(p => p.Id), height, now, keys, payload, _key);
        if (_nodes.TryGetValue(vertex.Id, out var existing)) return existing.Vertex; // the same proposal in the same millisecond
        var node = Insert(vertex, now, local: true, from: null)
            ?? throw new InvalidOperationException($"the local vertex {vertex.Id} was refused");
        node.PushPending = node.IsProcessing;
        if (node.PushPending) _pushPending++;
        ResolveWaiting([node], now);
        StartPolls(now);
        _store.Commit();
        return vertex;
    }

    /// <summary>Handles one message from <paramref name="from"/> (already authenticated by the transport).</summary>
    public void Receive(PeerId from, DagMessage message, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(message);
        Counters.MessagesReceived++;
        switch (message.KindCase)
        {
            case DagMessage.KindOneofCase.Query:
                OnQuery(from, message.RequestId, message.Query, now);
                break;
            case DagMessage.KindOneofCase.Votes:
                OnVotes(from, message.RequestId, message.Votes, now);
                break;
            case DagMessage.KindOneofCase.GetVertices:
                OnGetVertices(from, message.RequestId, message.GetVertices);
                break;
            case DagMessage.KindOneofCase.Vertices:
                OnVertices(from, message.RequestId, message.Vertices, now);
                break;
            case DagMessage.KindOneofCase.GetFrontier:
                OnGetFrontier(from, message.RequestId, message.GetFrontier);
                break;
            case DagMessage.KindOneofCase.Frontier:
                OnFrontier(from, message.RequestId, message.Frontier, now);
                break;
            case DagMessage.KindOneofCase.Announce:
                break; // membership is the host's business
            default:
                Refuse(DagRefusal.Malformed, from, "message of no known kind");
                break;
        }
        StartPolls(now);
        _store.Commit();
    }

    /// <summary>Ends overdue polls and requests, drops vertices whose parents never came, syncs, starts polls.</summary>
    public void Tick(DateTimeOffset now)
    {
        ExpirePolls(now);
        ExpireFetches(now);
        ExpirePending(now);
        Sync(now);
        StartPolls(now);
        _store.Commit();
    }

    /// <summary>When <see cref="Tick"/> has something to do next (a deadline, a poll slot, a sync); null: nothing
    /// until a message or proposal arrives.</summary>
    public DateTimeOffset? GetNextDeadline()
    {
        DateTimeOffset? next = null;
        void Consider(DateTimeOffset time)
        {
            if (next is null || time < next) next = time;
        }
        while (_pollQueue.TryPeek(out var poll) && !_polls.ContainsKey(poll.RequestId)) _pollQueue.Dequeue();
        if (_pollQueue.TryPeek(out var firstPoll)) Consider(firstPoll.Deadline);
        while (_fetchQueue.TryPeek(out var fetch) && !_fetches.ContainsKey(fetch.RequestId)) _fetchQueue.Dequeue();
        if (_fetchQueue.TryPeek(out var firstFetch)) Consider(firstFetch.Deadline);
        while (_retryQueue.TryPeek(out var retry) && !_fetches.ContainsKey(retry.RequestId)) _retryQueue.Dequeue();
        if (_retryQueue.TryPeek(out var firstRetry)) Consider(firstRetry.Sent + _options.FetchRetryInterval);
        foreach (var sync in _syncs.Values) Consider(sync.Deadline);
        while (_pendingQueue.TryPeek(out var entry) && !(_pending.TryGetValue(entry.Id, out var p) && p.Expires == entry.Expires)) _pendingQueue.Dequeue();
        if (_pendingQueue.TryPeek(out var firstPending)) Consider(firstPending.Expires);
        // Members are counted only when a sync or a poll would come first (a dictionary lookup per call otherwise).
        bool? hasOthers = null;
        bool HasOthers() => hasOthers ??= _membership.CountOthers(LocalPeer) > 0;
        if (_nextSyncAt != DateTimeOffset.MaxValue && (next is null || _nextSyncAt < next) && HasOthers()) next = _nextSyncAt;
        if (_processing.Count > 0 && _polls.Count < _options.MaxOutstandingPolls && NextPollAt is var pollAt && (next is null || pollAt < next)
            && HasOthers()) next = pollAt;
        return next;
    }

    /// <summary>What this node knows of a vertex, or null.</summary>
    public VertexInfo? Find(VertexId id)
    {
        if (!_nodes.TryGetValue(id, out var node))
        {
            return _pending.TryGetValue(id, out var pending)
                ? new VertexInfo(pending.Vertex, null, default, null, [], 0, 0, false, [.. pending.Missing])
                : null;
        }
        return new VertexInfo(node.Vertex, node.Status, node.FirstSeen, node.DecidedAt, [.. node.Children.Select(c => c.Id)],
            node.Confidence, node.SuccessfulPolls, node.IsProcessing && IsStronglyPreferred(node), []);
    }

    /// <summary>The accepted vertex of a conflict key, else the preferred undecided one, else null.</summary>
    public VertexId? Preference(ConflictKey key) =>
        _sets.TryGetValue(key, out var set) ? (set.Accepted ?? set.Preference)?.Id : null;

    /// <summary>The vertex accepted for a conflict key, or null while the key is undecided (or unknown) here.</summary>
    public VertexId? AcceptedFor(ConflictKey key) => _sets.TryGetValue(key, out var set) ? set.Accepted?.Id : null;

    /// <summary>Status of a vertex held here (null if not held).</summary>
    public VertexStatus? StatusOf(VertexId id) => _nodes.TryGetValue(id, out var node) ? node.Status : null;

    /// <summary>Every vertex held, with its status.</summary>
    public IEnumerable<(DagVertex Vertex, VertexStatus Status)> Vertices => _nodes.Values.Select(n => (n.Vertex, n.Status));

    /// <summary>Counts and the frontier, for status displays.</summary>
    public DagSnapshot Snapshot(int maxIds = 32) => new(
        _nodes.Count, _acceptedCount, _rejectedCount, _processing.Count, _pending.Count, _tips.Count,
        [.. OrderedTips().Take(maxIds).Select(n => n.Id)],
        [.. _processing.OrderBy(n => n.Height).ThenBy(n => n.Id).Take(maxIds).Select(n => n.Id)],
        _membership.CountOthers(LocalPeer) + 1, _polls.Count, _reportedEquivocations.Count, Counters.Clone());

    private void Refuse(DagRefusal reason, PeerId? from, string detail)
    {
        Counters.Refuse(reason);
        _observer.OnRefused(reason, from, detail);
    }

    private void Send(PeerId to, DagMessage message) => Send(to, message, message.CalculateSize());

    /// <summary>Sends a message whose encoded size is known (a query goes to k peers: sized once).</summary>
    private void Send(PeerId to, DagMessage message, int size)
    {
        Counters.MessagesSent++;
        Counters.BytesSent += size;
        _outbox.Send(to, message);
    }

    private ulong NextRequestId() => _nextRequestId++ == 0 ? _nextRequestId++ : _nextRequestId - 1;

    private static VertexId[]? ParseIds(IReadOnlyList<Google.Protobuf.ByteString> ids)
    {
        var result = new VertexId[ids.Count];
        for (int i = 0; i < result.Length; i++)
        {
            if (ids[i].Length != VertexId.Length) return null;
            result[i] = VertexId.FromBytes(ids[i].Span);
        }
        return result;
    }

    private sealed class NullObserver : IDagEngineObserver
    {
        public static readonly NullObserver Instance = new();
    }
}

/// <summary>A vertex as this node sees it.</summary>
/// <param name="Status">Null while the vertex waits for its parents.</param>
/// <param name="Missing">Parents still being fetched (for a waiting vertex).</param>
public sealed record VertexInfo(DagVertex Vertex, VertexStatus? Status, DateTimeOffset FirstSeen, DateTimeOffset? DecidedAt,
    IReadOnlyList<VertexId> Children, int Confidence, int SuccessfulPolls, bool StronglyPreferred, IReadOnlyList<VertexId> Missing);

/// <summary>Counts and frontier of an engine at one moment.</summary>
/// <param name="Frontier">Tips (greatest height first).</param>
/// <param name="Undecided">Undecided vertices (lowest first).</param>
public sealed record DagSnapshot(int Vertices, long Accepted, long Rejected, int Processing, int Pending, int Tips,
    IReadOnlyList<VertexId> Frontier, IReadOnlyList<VertexId> Undecided, int Members, int OutstandingPolls, int Equivocations,
    DagCounters Counters);
