using System.Runtime.InteropServices;
using Google.Protobuf;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

// Snowball over the DAG: polls, answering queries, counting votes through the ancestry, deciding.
public sealed partial class DagEngine
{
    private readonly Dictionary<ulong, Poll> _polls = [];
    private readonly Queue<Poll> _pollQueue = new();
    private long _pollSequence;
    private DateTimeOffset _nextPollAt = DateTimeOffset.MinValue;
    // Polls in a row that gave no undecided vertex alpha votes; from IdleAfterPolls on, poll at the idle pace.
    private int _fruitlessPolls;
    private bool Idle => _fruitlessPolls >= _options.IdleAfterPolls;
    private DateTimeOffset _lastPollStart = DateTimeOffset.MinValue;

    /// <summary>When the next poll may start.</summary>
    private DateTimeOffset NextPollAt =>
        Idle && _options.IdlePollInterval > TimeSpan.Zero && _lastPollStart != DateTimeOffset.MinValue
            ? Max(_nextPollAt, _lastPollStart + _options.IdlePollInterval)
            : _nextPollAt;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private void StartPolls(DateTimeOffset now)
    {
        while (_processing.Count > 0 && _polls.Count < _options.MaxOutstandingPolls && now >= NextPollAt)
        {
            var sample = _membership.Sample(LocalPeer, _options.K, _random);
            if (sample.Count == 0) return;
            var queried = SelectQueryNodes();
            var slots = new Dictionary<PeerId, int>(sample.Count);
            foreach (var (peer, count) in sample) slots[peer] = count;
            var poll = new Poll(NextRequestId(), ++_pollSequence, queried, slots, now, now + _options.PollTimeout,
                _closureLists.TryPop(out var closures) ? closures : []);
            _polls.Add(poll.RequestId, poll);
            _pollQueue.Enqueue(poll);
            var message = new DagMessage { RequestId = poll.RequestId, Query = BuildQuery(queried) };
            int size = message.CalculateSize();
            foreach (var (peer, _) in sample) Send(peer, message, size);
            Counters.PollsStarted++;
            _nextPollAt = now + _options.PollInterval;
            _lastPollStart = now;
        }
    }

    /// <summary>The query for <paramref name="queried"/>: with this node's own vertices not pushed yet, a new one;
    /// otherwise the same object as the previous poll's while the ids are the same (messages are never changed once
    /// sent, and a receiver comparing it with a query it answered before finds the same list at once).</summary>
    private Query BuildQuery(VertexNode[] queried)
    {
        if (_pushPending == 0 && _lastQuery is { } last && ReferenceEquals(_lastQueryNodes, queried)) return last;
        var query = new Query();
        query.Ids.Capacity = queried.Length;
        foreach (var node in queried) query.Ids.Add(node.IdBytes);
        if (_pushPending > 0)
        {
            foreach (var node in _processing)
            {
                if (query.Vertices.Count >= _options.MaxPushedVertices) break;
                if (!node.PushPending) continue;
                node.PushPending = false;
                _pushPending--;
                query.Vertices.Add(UnsafeByteOperations.UnsafeWrap(node.Vertex.Envelope));
            }
        }
        (_lastQuery, _lastQueryNodes) = query.Vertices.Count == 0 ? (query, queried) : (null, null);
        return query;
    }

    private Query? _lastQuery;
    private VertexNode[]? _lastQueryNodes;
    // Processing vertices whose envelope still goes out with the next query (this node's own).
    private int _pushPending;
    // Bumped whenever the processing set (or a processing vertex's processing children) changes: the query order is
    // the same while it is unchanged (heights and ids never change).
    private long _processingVersion;
    private VertexNode[] _queryNodes = [];
    private long _queryNodesVersion = -1;

    /// <summary>Undecided vertices to ask about: leaves first (a vote for a leaf counts for its whole undecided
    /// ancestry), then the rest, greatest height first, then by id (a total order: ids are unique). The same array
    /// while the processing set is unchanged (polls only read it).</summary>
    private VertexNode[] SelectQueryNodes()
    {
        if (_queryNodesVersion == _processingVersion) return _queryNodes;
        var nodes = new VertexNode[_processing.Count];
        _processing.CopyTo(nodes);
        Array.Sort(nodes, QueryOrder);
        _queryNodes = nodes.Length <= _options.MaxQueryIds ? nodes : nodes[.._options.MaxQueryIds];
        _queryNodesVersion = _processingVersion;
        return _queryNodes;
    }

    private static readonly Comparison<VertexNode> QueryOrder = (a, b) =>
    {
        int order = (a.ProcessingChildren == 0 ? 0 : 1).CompareTo(b.ProcessingChildren == 0 ? 0 : 1);
        if (order == 0) order = b.Height.CompareTo(a.Height);
        return order != 0 ? order : a.Id.CompareTo(b.Id);
    };

    private void OnQuery(PeerId from, ulong requestId, Query query, DateTimeOffset now)
    {
        if (!_membership.Contains(from))
        {
            Refuse(DagRefusal.NonMember, from, "query from a peer outside the membership");
            return;
        }
        if (query.Ids.Count > _options.MaxQueryIds || query.Vertices.Count > _options.MaxPushedVertices)
        {
            Refuse(DagRefusal.Oversized, from, $"query of {query.Ids.Count} ids and {query.Vertices.Count} vertices");
            return;
        }
        // Checked first, parsed one by one below: every query is answered, and an id array per answer was most of the
        // garbage a node made while polls went round.
        var queried = query.Ids;
        foreach (var raw in queried)
        {
            if (raw.Length == VertexId.Length) continue;
            Refuse(DagRefusal.Malformed, from, "query id of the wrong length");
            return;
        }
        foreach (var envelope in query.Vertices) ReceiveVertex(from, envelope.Span, now);
        var answer = Answer(queried);
        Counters.QueriesAnswered++;
        Send(from, new DagMessage { RequestId = requestId, Votes = new Votes { Preferred = answer.Preferred } });
        // The querier holds them; usually only the newest are missing here, so no ancestors unless they turn out missing.
        if (answer.Unknown.Length > 0) RequestVertices(from, answer.Unknown, now, ancestors: false);
    }

    // Answers to recent queries, most recently used first, reused for a query with the same ids in the same order
    // while nothing they read has changed: every poller orders its undecided vertices the same way, so while the
    // network holds the same ones most queries repeat one of a few lists. A query with another list (a poller that
    // decided a vertex, or holds one more) is mostly the latest list with a few ids in or out: it is answered from
    // that one where the ids line up, and only the others are looked up. An answer reads, for ids held, their strong
    // preference (changes are logged per vertex, see StrongMayChange: only the vertices logged since are read again),
    // and for ids not held, whether they are held or waiting now (_heldVersion, _pendingVersion).
    private const int CachedAnswers = 4;
    // How far ahead in the latest list an id is looked for (ids the new query leaves out).
    private const int AlignWindow = 4;
    // More logged changes than this since an answer: it is read again in full (memoised values make that cheap).
    private const int MaxPatchedChanges = 32;
    private readonly List<QueryAnswer> _answers = new(CachedAnswers);
    private readonly List<VertexId> _unknownScratch = [];

    private QueryAnswer Answer(IReadOnlyList<ByteString> ids)
    {
        for (int i = 0; i < _answers.Count; i++)
        {
            var cached = _answers[i];
            if (!cached.Asks(ids)) continue;
            if (i > 0)
            {
                _answers.RemoveAt(i);
                _answers.Insert(0, cached);
            }
            if (!cached.IsCurrent(_epoch, StrongChangeSequence, _heldVersion, _pendingVersion)) Compute(cached, cached);
            return cached;
        }
        var latest = _answers.Count > 0 ? _answers[0] : null;
        QueryAnswer answer;
        if (_answers.Count == CachedAnswers)
        {
            answer = _answers[CachedAnswers - 1];
            _answers.RemoveAt(CachedAnswers - 1);
            answer.Reset(ids);
        }
        else answer = new QueryAnswer(ids);
        _answers.Insert(0, answer);
        Compute(answer, latest);
        return answer;
    }

    /// <summary>Bit i set exactly when ids[i] is held and strongly preferred; the ids neither held nor waiting. Ids
    /// that line up with <paramref name="basis"/>'s (an earlier answer, or this one) take its vertex, and its bit when
    /// neither _epoch changed since nor the vertex was logged as changed.</summary>
    private void Compute(QueryAnswer answer, QueryAnswer? basis)
    {
        var ids = answer.Ids;
        var nodes = answer.Nodes;
        var preferred = new byte[(ids.Count + 7) / 8];
        var unknown = _unknownScratch;
        unknown.Clear();
        bool allHeld = true;
        long sequence = StrongChangeSequence;
        bool bitsUsable = basis is not null && basis.Epoch == _epoch && sequence - basis.Sequence <= MaxPatchedChanges;
        bool patch = false;
        int j = 0;
        for (int i = 0; i < ids.Count; i++)
        {
            var node = nodes[i];
            if (basis is not null && basis.Find(ids[i], ref j) is int at)
            {
                // Held vertices stay held (nodes are never removed).
                node = nodes[i] = basis.Nodes[at];
                if (node is not null && bitsUsable)
                {
                    if (basis.IsPreferred(at)) preferred[i / 8] |= (byte)(1 << (i % 8));
                    patch = true;
                    continue;
                }
            }
            if (node is null)
            {
                var id = VertexId.FromBytes(ids[i].Span);
                if (!_nodes.TryGetValue(id, out node))
                {
                    allHeld = false;
                    if (!_pending.ContainsKey(id)) unknown.Add(id);
                    continue;
                }
                nodes[i] = node;
            }
            if (IsStronglyPreferred(node)) preferred[i / 8] |= (byte)(1 << (i % 8));
        }
        if (patch)
        {
            // Bits taken from the basis: the vertices logged since it was computed are read again.
            for (long c = basis!.Sequence - _strongChangesBase; c < _strongChanges.Count; c++)
            {
                var changed = _strongChanges[(int)c];
                for (int i = 0; i < nodes.Length; i++)
                {
                    if (!ReferenceEquals(nodes[i], changed)) continue;
                    if (IsStronglyPreferred(changed)) preferred[i / 8] |= (byte)(1 << (i % 8));
                    else preferred[i / 8] &= (byte)~(1 << (i % 8));
                }
            }
        }
        // A new bitmap each time: votes already sent hold the previous one.
        answer.Update(preferred, unknown.Count == 0 ? [] : [.. unknown], allHeld, _epoch, sequence, _heldVersion, _pendingVersion);
    }

    private sealed class QueryAnswer(IReadOnlyList<ByteString> ids)
    {
        private long _heldVersion = -1, _pendingVersion = -1;
        private bool _allHeld;
        private byte[] _bits = [];

        public IReadOnlyList<ByteString> Ids { get; private set; } = ids;

        /// <summary>The vertex of each id, once held.</summary>
        public VertexNode?[] Nodes { get; private set; } = new VertexNode?[ids.Count];

        public ByteString Preferred { get; private set; } = ByteString.Empty;

        public VertexId[] Unknown { get; private set; } = [];

        /// <summary>The engine's _epoch and strong-change sequence when this answer was computed.</summary>
        public long Epoch { get; private set; } = -1;

        public long Sequence { get; private set; } = -1;

        /// <summary>Makes this the (not yet computed) answer to other ids.</summary>
        public void Reset(IReadOnlyList<ByteString> ids)
        {
            Ids = ids;
            if (Nodes.Length == ids.Count) Array.Clear(Nodes);
            else Nodes = new VertexNode?[ids.Count];
            Epoch = -1;
        }

        public bool Asks(IReadOnlyList<ByteString> other)
        {
            if (ReferenceEquals(other, Ids)) return true;
            if (other.Count != Ids.Count) return false;
            for (int i = 0; i < Ids.Count; i++)
                if (!Same(Ids[i], other[i])) return false;
            return true;
        }

        /// <summary>Where <paramref name="id"/> is in this answer's ids, looking from <paramref name="from"/> a few
        /// places ahead (advanced past it when found); null if not there.</summary>
        public int? Find(ByteString id, ref int from)
        {
            int end = Math.Min(Ids.Count, from + AlignWindow);
            for (int k = from; k < end; k++)
            {
                if (!Same(Ids[k], id)) continue;
                from = k + 1;
                return k;
            }
            return null;
        }

        public bool IsPreferred(int index) => (_bits[index / 8] & (1 << (index % 8))) != 0;

        public bool IsCurrent(long epoch, long sequence, long heldVersion, long pendingVersion) =>
            epoch == Epoch && sequence == Sequence && (_allHeld || (heldVersion == _heldVersion && pendingVersion == _pendingVersion));

        public void Update(byte[] preferred, VertexId[] unknown, bool allHeld, long epoch, long sequence, long heldVersion, long pendingVersion)
        {
            (_bits, Preferred, Unknown, _allHeld) = (preferred, UnsafeByteOperations.UnsafeWrap(preferred), unknown, allHeld);
            (Epoch, Sequence, _heldVersion, _pendingVersion) = (epoch, sequence, heldVersion, pendingVersion);
        }

        private static bool Same(ByteString a, ByteString b) => ReferenceEquals(a, b) || a.Span.SequenceEqual(b.Span);
    }

    /// <summary>A pushed or fetched envelope: checked, then added (or made to wait for its parents).</summary>
    private DagVertex? ReceiveVertex(PeerId from, ReadOnlySpan<byte> envelope, DateTimeOffset now)
    {
        Counters.VerticesReceived++;
        if (envelope.Length <= _options.MaxVertexSize && _nodes.ContainsKey(VertexId.Of(envelope))) return null;
        try
        {
            var vertex = OpenVertex(envelope, now);
            AddVerified(vertex, from, now);
            return vertex;
        }
        catch (DagFormatException e)
        {
            Refuse(e.Reason, from, e.Message);
            return null;
        }
    }

    private void OnVotes(PeerId from, ulong requestId, Votes votes, DateTimeOffset now)
    {
        if (!_membership.Contains(from))
        {
            Refuse(DagRefusal.NonMember, from, "vote from a peer outside the membership");
            return;
        }
        if (!_polls.TryGetValue(requestId, out var poll) || !poll.Awaiting.Remove(from, out int slots))
        {
            Refuse(DagRefusal.Unsolicited, from, $"vote for request {requestId}, which did not ask this peer (or was answered)");
            return;
        }
        var preferred = votes.Preferred.Span;
        int count = poll.Nodes.Length;
        int expected = (count + 7) / 8;
        bool padded = count % 8 != 0 && expected > 0 && (preferred.Length == expected)
            && (preferred[expected - 1] >> (count % 8)) != 0;
        if (preferred.Length != expected || padded)
        {
            Refuse(DagRefusal.Malformed, from, $"vote bitmap of {preferred.Length} bytes for {count} ids");
        }
        else if (Closure(poll.Nodes, preferred, _scratch))
        {
            Refuse(DagRefusal.ContradictoryVote, from, "the vote prefers two conflicting vertices");
        }
        else
        {
            Counters.VotesReceived++;
            // ByteStrings are immutable: the bitmap is kept, not copied. The closure is kept for counting.
            poll.Responses.Add(new PollResponse(from, slots, votes.Preferred, poll.Closures.Count, _scratch.Count, _departures));
            poll.Closures.AddRange(_scratch);
        }
        if (poll.Awaiting.Count == 0) CompletePoll(poll, now);
    }

    private readonly List<VertexNode> _scratch = [];
    private readonly HashSet<ConflictSet> _touched = [];
    private static readonly Comparison<VertexNode> ByHeightThenId = (a, b) =>
    {
        int order = a.Height.CompareTo(b.Height);
        return order != 0 ? order : a.Id.CompareTo(b.Id);
    };
    private readonly Stack<VertexNode> _closureStack = new();
    // Vertices that left processing so far: a closure computed earlier is still the closure while this is unchanged
    // (vertices added since are neither asked about in an earlier poll nor ancestors of those that were).
    private long _departures;
    // Closure lists of completed polls, for the next polls (a poll's closures are a few thousand entries).
    private readonly Stack<List<VertexNode>> _closureLists = new();

    /// <summary>
    /// The undecided vertices a vote counts for: the ids it marks preferred and their undecided ancestors, into
    /// <paramref name="visited"/>. Returns true when they hold two vertices of one conflict set (a contradictory vote).
    /// </summary>
    private bool Closure(VertexNode[] asked, ReadOnlySpan<byte> preferred, List<VertexNode> visited)
    {
        long mark = ++_markToken;
        visited.Clear();
        var stack = _closureStack;
        stack.Clear();
        for (int i = 0; i < asked.Length; i++)
        {
            if ((preferred[i / 8] & (1 << (i % 8))) == 0) continue;
            if (asked[i].IsProcessing) stack.Push(asked[i]);
        }
        bool contradictory = false;
        while (stack.TryPop(out var node))
        {
            if (node.MarkToken == mark) continue;
            node.MarkToken = mark;
            visited.Add(node);
            foreach (var set in node.Sets)
            {
                // The set's choice in this walk, marked on the set itself (the walk's token says whether it is current).
                if (set.ChoiceToken == mark && set.Choice != node) contradictory = true;
                else
                {
                    set.ChoiceToken = mark;
                    set.Choice = node;
                }
            }
            foreach (var parent in node.Parents)
                if (parent.IsProcessing && parent.MarkToken != mark) stack.Push(parent);
        }
        return contradictory;
    }

    private void ExpirePolls(DateTimeOffset now)
    {
        while (_pollQueue.TryPeek(out var poll) && poll.Deadline <= now)
        {
            _pollQueue.Dequeue();
            if (!_polls.ContainsKey(poll.RequestId)) continue;
            Counters.PollsTimedOut++;
            CompletePoll(poll, now);
        }
    }

    /// <summary>
    /// Counts the poll: each voter's preferred ids, with their undecided ancestors, get the voter's slots (a voter
    /// whose preferences include two conflicting vertices is refused); then Snowball per vertex and conflict set, and
    /// acceptance of what reached beta.
    /// </summary>
    private void CompletePoll(Poll poll, DateTimeOffset now)
    {
        _polls.Remove(poll.RequestId);
        Counters.PollsCompleted++;
        long token = poll.Sequence;
        var visited = _scratch;
        foreach (var response in poll.Responses)
        {
            // Checked when the vote came, and still its closure unless a vertex has left processing since; a decision
            // since may only have removed vertices from the closure.
            ReadOnlySpan<VertexNode> closure = CollectionsMarshal.AsSpan(poll.Closures).Slice(response.Start, response.Length);
            if (response.Departures != _departures)
            {
                if (Closure(poll.Nodes, response.Preferred.Span, visited))
                {
                    Refuse(DagRefusal.ContradictoryVote, response.Peer, "the vote prefers two conflicting vertices");
                    continue;
                }
                closure = CollectionsMarshal.AsSpan(visited);
            }
            int slots = response.Slots;
            foreach (var node in closure)
            {
                if (node.VoteToken != token)
                {
                    node.VoteToken = token;
                    node.Votes = 0;
                }
                node.Votes += slots;
            }
        }
        poll.Closures.Clear();
        _closureLists.Push(poll.Closures);

        int alphaPreference = _options.AlphaPreference, alphaConfidence = _options.AlphaConfidence;
        var touched = _touched;
        touched.Clear();
        List<VertexNode>? ready = null; // rare; its own list, since accepting calls out to the observer
        bool progress = false;
        foreach (var node in _processing)
        {
            if (node.AddedAtPoll >= poll.Sequence) continue; // it did not exist when the poll went out
            int votes = node.VoteToken == token ? node.Votes : 0;
            if (votes >= alphaPreference)
            {
                progress = true;
                node.SuccessfulPolls++;
                foreach (var set in node.Sets) touched.Add(set);
            }
            node.Confidence = votes >= alphaConfidence ? node.Confidence + 1 : 0;
            if (node.Confidence >= _options.Beta) (ready ??= []).Add(node);
        }
        _fruitlessPolls = progress ? 0 : _fruitlessPolls + 1;
        foreach (var set in touched)
        {
            var before = set.Preference;
            if (!set.UpdatePreference()) continue;
            StrongMayChange(before);
            StrongMayChange(set.Preference);
        }
        // Parents before children, so a chain that reached beta together is accepted in one go.
        if (ready is null) return;
        ready.Sort(ByHeightThenId);
        foreach (var node in ready)
        {
            if (!node.IsProcessing || !node.IsPreferred) continue;
            if (node.Parents.All(p => p.Status == VertexStatus.Accepted)) Accept(node, now);
        }
    }
}
