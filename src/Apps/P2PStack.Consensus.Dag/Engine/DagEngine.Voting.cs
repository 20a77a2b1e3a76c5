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
            var query = new Query();
            query.Ids.Capacity = queried.Length;
            foreach (var node in queried) query.Ids.Add(node.IdBytes);
            foreach (var node in _processing)
            {
                if (query.Vertices.Count >= _options.MaxPushedVertices) break;
                if (!node.PushPending) continue;
                node.PushPending = false;
                query.Vertices.Add(UnsafeByteOperations.UnsafeWrap(node.Vertex.Envelope));
            }
            var message = new DagMessage { RequestId = poll.RequestId, Query = query };
            foreach (var (peer, _) in sample) Send(peer, message);
            Counters.PollsStarted++;
            _nextPollAt = now + _options.PollInterval;
            _lastPollStart = now;
        }
    }

    /// <summary>Undecided vertices to ask about: leaves first (a vote for a leaf counts for its whole undecided
    /// ancestry), then the rest, greatest height first, then by id (a total order: ids are unique).</summary>
    private VertexNode[] SelectQueryNodes()
    {
        var nodes = new VertexNode[_processing.Count];
        _processing.CopyTo(nodes);
        Array.Sort(nodes, QueryOrder);
        return nodes.Length <= _options.MaxQueryIds ? nodes : nodes[.._options.MaxQueryIds];
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
        if (!_lastAnswer.Matches(queried, _epoch, _pendingVersion))
        {
            var preferred = new byte[(queried.Count + 7) / 8];
            List<VertexId>? unknown = null;
            for (int i = 0; i < queried.Count; i++)
            {
                var id = VertexId.FromBytes(queried[i].Span);
                if (!_nodes.TryGetValue(id, out var node))
                {
                    if (!_pending.ContainsKey(id)) (unknown ??= []).Add(id);
                    continue;
                }
                if (IsStronglyPreferred(node)) preferred[i / 8] |= (byte)(1 << (i % 8));
            }
            _lastAnswer = new QueryAnswer(queried, _epoch, _pendingVersion, UnsafeByteOperations.UnsafeWrap(preferred),
                unknown is null ? [] : [.. unknown]);
        }
        Counters.QueriesAnswered++;
        Send(from, new DagMessage { RequestId = requestId, Votes = new Votes { Preferred = _lastAnswer.Preferred } });
        // The querier holds them; usually only the newest are missing here, so no ancestors unless they turn out missing.
        if (_lastAnswer.Unknown.Length > 0) RequestVertices(from, _lastAnswer.Unknown, now, ancestors: false);
    }

    // The answer to the last query, reused for the next one while it asks about the same ids in the same order and
    // nothing an answer reads has changed (statuses, preferences and held vertices bump _epoch, waiting vertices
    // _pendingVersion): every poller orders its undecided vertices the same way, so while the network holds the same
    // ones most queries repeat the previous one, and answering meant a lookup and a walk per id.
    private QueryAnswer _lastAnswer = QueryAnswer.None;

    private sealed class QueryAnswer(IReadOnlyList<ByteString> ids, long epoch, long pendingVersion, ByteString preferred, VertexId[] unknown)
    {
        public static readonly QueryAnswer None = new([], -1, -1, ByteString.Empty, []);

        public ByteString Preferred { get; } = preferred;

        public VertexId[] Unknown { get; } = unknown;

        public bool Matches(IReadOnlyList<ByteString> other, long currentEpoch, long currentPendingVersion)
        {
            if (epoch != currentEpoch || pendingVersion != currentPendingVersion || other.Count != ids.Count) return false;
            if (ReferenceEquals(other, ids)) return true;
            for (int i = 0; i < ids.Count; i++)
                if (!ReferenceEquals(ids[i], other[i]) && !ids[i].Span.SequenceEqual(other[i].Span)) return false;
            return true;
        }
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
        var touched = new HashSet<ConflictSet>();
        var ready = new List<VertexNode>();
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
            if (node.Confidence >= _options.Beta) ready.Add(node);
        }
        _fruitlessPolls = progress ? 0 : _fruitlessPolls + 1;
        foreach (var set in touched)
            if (set.UpdatePreference()) _epoch++;
        // Parents before children, so a chain that reached beta together is accepted in one go.
        foreach (var node in ready.OrderBy(n => n.Height).ThenBy(n => n.Id))
        {
            if (!node.IsProcessing || !node.IsPreferred) continue;
            if (node.Parents.All(p => p.Status == VertexStatus.Accepted)) Accept(node, now);
        }
    }
}
