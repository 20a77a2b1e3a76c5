using Google.Protobuf;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

// Fetching missing vertices and catching up through the frontier.
public sealed partial class DagEngine
{
    private readonly Dictionary<ulong, FetchRequest> _fetches = [];
    private readonly Queue<FetchRequest> _fetchQueue = new();
    // Requests to ask another member about if still unanswered at their retry time.
    private readonly Queue<FetchRequest> _retryQueue = new();
    // Ids asked for: until when the latest request stands, and when it went out (another peer naming the id is
    // asked too once FetchRetryInterval has passed, so one silent peer delays a vertex by that much at most).
    private readonly Dictionary<VertexId, (DateTimeOffset Until, DateTimeOffset Sent)> _requested = [];
    private readonly Dictionary<ulong, SyncRequest> _syncs = [];
    private DateTimeOffset _nextSyncAt;
    private readonly HashSet<VertexId> _wantedScratch = [];

    /// <summary>Asks <paramref name="peer"/> for the ids not held, not waiting and not already asked for; with
    /// <paramref name="ancestors"/> (catching up a gap), also that many generations of their ancestors.</summary>
    private void RequestVertices(PeerId peer, IEnumerable<VertexId> ids, DateTimeOffset now, bool ancestors = true)
    {
        if (peer == LocalPeer) return;
        var wanted = new List<VertexId>();
        var seen = _wantedScratch; // a query names up to MaxQueryIds ids: no quadratic search for duplicates
        seen.Clear();
        foreach (var id in ids)
        {
            if (_nodes.ContainsKey(id) || _pending.ContainsKey(id)) continue;
            if (_requested.TryGetValue(id, out var asked) && asked.Until > now && now - asked.Sent < _options.FetchRetryInterval) continue;
            if (seen.Add(id)) wanted.Add(id);
        }
        for (int start = 0; start < wanted.Count; start += _options.MaxFetchIds)
        {
            if (_fetches.Count >= _options.MaxOutstandingFetches) return; // asked again when a vote or a vertex names them
            var chunk = wanted.Skip(start).Take(_options.MaxFetchIds).ToArray();
            var request = new FetchRequest(NextRequestId(), peer, chunk, now, now + _options.FetchTimeout);
            _fetches.Add(request.RequestId, request);
            _fetchQueue.Enqueue(request);
            _retryQueue.Enqueue(request);
            var get = new GetVertices { Ancestors = ancestors ? (uint)_options.FetchAncestors : 0 };
            foreach (var id in chunk)
            {
                _requested[id] = (request.Deadline, now);
                get.Ids.Add(id.ToByteString());
            }
            Counters.FetchRequests++;
            Send(peer, new DagMessage { RequestId = request.RequestId, GetVertices = get });
        }
    }

    private void OnGetVertices(PeerId from, ulong requestId, GetVertices get)
    {
        if (!_membership.Contains(from))
        {
            Refuse(DagRefusal.NonMember, from, "vertex request from a peer outside the membership");
            return;
        }
        if (get.Ids.Count > _options.MaxFetchIds)
        {
            Refuse(DagRefusal.Oversized, from, $"request for {get.Ids.Count} vertices");
            return;
        }
        if (ParseIds(get.Ids) is not { } ids)
        {
            Refuse(DagRefusal.Malformed, from, "requested id of the wrong length");
            return;
        }
        // Breadth first from the requested vertices through their ancestry, within the generation and size limits.
        int generations = (int)Math.Min(get.Ancestors, (uint)_options.FetchAncestors);
        var chosen = new List<VertexNode>();
        var seen = new HashSet<VertexNode>();
        var queue = new Queue<(VertexNode Node, int Generation)>();
        foreach (var id in ids)
            if (_nodes.TryGetValue(id, out var node) && seen.Add(node)) queue.Enqueue((node, 0));
        int bytes = 0;
        while (queue.TryDequeue(out var item) && chosen.Count < _options.MaxBatchVertices)
        {
            if (bytes + item.Node.Vertex.Envelope.Length > _options.MaxBatchBytes) break;
            bytes += item.Node.Vertex.Envelope.Length;
            chosen.Add(item.Node);
            if (item.Generation >= generations) continue;
            foreach (var parent in item.Node.Parents)
                if (seen.Add(parent)) queue.Enqueue((parent, item.Generation + 1));
        }
        var batch = new VertexBatch();
        foreach (var node in chosen.OrderBy(n => n.Height).ThenBy(n => n.Id)) batch.Envelopes.Add(UnsafeByteOperations.UnsafeWrap(node.Vertex.Envelope));
        Send(from, new DagMessage { RequestId = requestId, Vertices = batch });
    }

    private void OnVertices(PeerId from, ulong requestId, VertexBatch batch, DateTimeOffset now)
    {
        if (!_fetches.Remove(requestId, out var request) || request.Peer != from)
        {
            if (request is not null) _fetches.Add(requestId, request); // someone else's request: leave it standing
            Refuse(DagRefusal.Unsolicited, from, $"vertices for request {requestId}, which did not ask this peer");
            return;
        }
        foreach (var id in request.Ids)
            if (_requested.TryGetValue(id, out var asked) && asked.Until == request.Deadline) _requested.Remove(id);
        if (batch.Envelopes.Count > _options.MaxBatchVertices || batch.Envelopes.Sum(e => (long)e.Length) > _options.MaxBatchBytes)
        {
            Refuse(DagRefusal.Oversized, from, $"batch of {batch.Envelopes.Count} vertices");
            return;
        }
        var opened = new List<DagVertex>(batch.Envelopes.Count);
        foreach (var envelope in batch.Envelopes)
        {
            Counters.VerticesReceived++;
            // Hashing is cheap, a signature check is not: vertices already held are skipped first.
            var id = VertexId.Of(envelope.Span);
            if (_nodes.ContainsKey(id) || _pending.ContainsKey(id)) continue;
            try
            {
                opened.Add(OpenVertex(envelope.Span, now));
            }
            catch (DagFormatException e)
            {
                Refuse(e.Reason, from, e.Message);
            }
        }
        // Only what was asked for, and ancestors of it (or of vertices waiting here), may come in an answer.
        var wanted = new HashSet<VertexId>(request.Ids);
        foreach (var vertex in opened)
            foreach (var parent in vertex.Parents) wanted.Add(parent);
        foreach (var vertex in opened.OrderBy(v => v.Height).ThenBy(v => v.Id))
        {
            if (!wanted.Contains(vertex.Id) && !_waiting.ContainsKey(vertex.Id))
            {
                Refuse(DagRefusal.NotRequested, from, $"vertex {vertex.Id.ToShortString()} was not asked for");
                continue;
            }
            Counters.VerticesFetched++;
            AddVerified(vertex, from, now);
        }
    }

    private void ExpireFetches(DateTimeOffset now)
    {
        // Unanswered after the retry interval (a silent or withholding peer): ask a random member too, once per
        // request; the first request keeps standing until its deadline.
        List<VertexId>? again = null;
        while (_retryQueue.TryPeek(out var slow) && slow.Sent + _options.FetchRetryInterval <= now)
        {
            _retryQueue.Dequeue();
            if (!_fetches.ContainsKey(slow.RequestId)) continue;
            foreach (var id in slow.Ids)
                if (!_nodes.ContainsKey(id) && !_pending.ContainsKey(id)) (again ??= []).Add(id);
        }
        if (again is not null && _membership.Pick(LocalPeer, _random) is { } other) RequestVertices(other, again, now, ancestors: true);
        List<VertexId>? retry = null;
        while (_fetchQueue.TryPeek(out var request) && request.Deadline <= now)
        {
            _fetchQueue.Dequeue();
            if (!_fetches.Remove(request.RequestId)) continue;
            Counters.FetchTimeouts++;
            foreach (var id in request.Ids)
            {
                if (_requested.TryGetValue(id, out var asked) && asked.Until == request.Deadline) _requested.Remove(id);
                if (!_nodes.ContainsKey(id) && !_pending.ContainsKey(id)) (retry ??= []).Add(id);
            }
        }
        // The peer that named them did not hand them out (gone, slow, or withholding): ask another member once. An
        // id nobody holds gets an empty answer there, and is asked for again only when someone names it again.
        if (retry is not null && _membership.Pick(LocalPeer, _random) is { } peer) RequestVertices(peer, retry, now, ancestors: true);
        foreach (var sync in _syncs.Values.Where(s => s.Deadline <= now).ToList()) _syncs.Remove(sync.RequestId);
    }

    /// <summary>At start and every sync interval: ask random members for their frontier.</summary>
    private void Sync(DateTimeOffset now)
    {
        if (now < _nextSyncAt || _membership.CountOthers(LocalPeer) == 0) return;
        _nextSyncAt = _options.SyncInterval > TimeSpan.Zero ? now + _options.SyncInterval : DateTimeOffset.MaxValue;
        for (int i = 0; i < _options.SyncPeers; i++)
        {
            if (_membership.Pick(LocalPeer, _random) is not { } peer) return;
            AskFrontier(peer, 0, now);
        }
    }

    private void AskFrontier(PeerId peer, uint offset, DateTimeOffset now)
    {
        var request = new SyncRequest(NextRequestId(), peer, now + _options.FetchTimeout, offset);
        _syncs.Add(request.RequestId, request);
        Send(peer, new DagMessage { RequestId = request.RequestId, GetFrontier = new GetFrontier { Offset = offset } });
    }

    private void OnGetFrontier(PeerId from, ulong requestId, GetFrontier get)
    {
        if (!_membership.Contains(from))
        {
            Refuse(DagRefusal.NonMember, from, "frontier request from a peer outside the membership");
            return;
        }
        var frontier = new Frontier { Total = (uint)_tips.Count };
        foreach (var tip in OrderedTips().Skip((int)Math.Min(get.Offset, int.MaxValue)).Take(_options.MaxFrontierIds))
            frontier.Ids.Add(tip.Id.ToByteString());
        Send(from, new DagMessage { RequestId = requestId, Frontier = frontier });
    }

    private void OnFrontier(PeerId from, ulong requestId, Frontier frontier, DateTimeOffset now)
    {
        if (!_syncs.Remove(requestId, out var request) || request.Peer != from)
        {
            if (request is not null) _syncs.Add(requestId, request);
            Refuse(DagRefusal.Unsolicited, from, $"frontier for request {requestId}, which did not ask this peer");
            return;
        }
        if (frontier.Ids.Count > _options.MaxFrontierIds)
        {
            Refuse(DagRefusal.Oversized, from, $"frontier of {frontier.Ids.Count} ids");
            return;
        }
        if (ParseIds(frontier.Ids) is not { } ids)
        {
            Refuse(DagRefusal.Malformed, from, "frontier id of the wrong length");
            return;
        }
        RequestVertices(from, ids, now);
        // More pages: ask for the next one, up to the limit of tips paged through per sync.
        uint next = request.Offset + (uint)ids.Length;
        if (ids.Length > 0 && next < frontier.Total && next < _options.MaxFrontierTips) AskFrontier(from, next, now);
    }
}
