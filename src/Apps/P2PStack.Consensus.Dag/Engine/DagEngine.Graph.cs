using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

// The graph: inserting checked vertices, vertices waiting for parents, tips, decisions and their propagation.
public sealed partial class DagEngine
{
    private readonly Dictionary<VertexId, PendingVertex> _pending = [];
    // Missing parent id -> ids of pending vertices waiting for it.
    private readonly Dictionary<VertexId, List<VertexId>> _waiting = [];
    private readonly Dictionary<PeerId, int> _pendingPerPeer = [];
    private readonly Queue<(DateTimeOffset Expires, VertexId Id)> _pendingQueue = new();
    private readonly Dictionary<PeerId, int> _processingByAuthor = [];
    // Bumped whenever the waiting vertices change (a cached query answer names the ids neither held nor waiting).
    private long _pendingVersion;
    // Bumped whenever a vertex is added (held ids change).
    private long _heldVersion;

    /// <summary>Adds a checked vertex from <paramref name="from"/>: at once when its parents are held, otherwise it
    /// waits for them (and they are fetched from <paramref name="from"/>).</summary>
    private void AddVerified(DagVertex vertex, PeerId from, DateTimeOffset now)
    {
        if (_nodes.ContainsKey(vertex.Id) || _pending.ContainsKey(vertex.Id)) return;
        var missing = new HashSet<VertexId>();
        foreach (var parent in vertex.Parents)
            if (!_nodes.ContainsKey(parent)) missing.Add(parent);
        if (missing.Count > 0)
        {
            AddPending(vertex, from, missing, now);
            return;
        }
        if (Insert(vertex, now, local: false, from) is { } node) ResolveWaiting([node], now);
    }

    /// <summary>Inserts the vertices that waited only for <paramref name="added"/> (and, in turn, for those).</summary>
    private void ResolveWaiting(List<VertexNode> added, DateTimeOffset? now = null)
    {
        var queue = new Queue<VertexNode>(added);
        while (queue.TryDequeue(out var node))
        {
            if (!_waiting.Remove(node.Id, out var waiters)) continue;
            foreach (var id in waiters)
            {
                if (!_pending.TryGetValue(id, out var pending)) continue;
                pending.Missing.Remove(node.Id);
                if (pending.Missing.Count > 0) continue;
                RemovePending(pending);
                if (Insert(pending.Vertex, now ?? node.FirstSeen, local: false, pending.From) is { } inserted) queue.Enqueue(inserted);
            }
        }
    }

    private void AddPending(DagVertex vertex, PeerId from, HashSet<VertexId> missing, DateTimeOffset now)
    {
        if (_pending.Count >= _options.MaxPendingVertices)
        {
            Refuse(DagRefusal.PendingFull, from, $"{_pending.Count} vertices already wait for their parents");
            return;
        }
        int fromPeer = _pendingPerPeer.GetValueOrDefault(from);
        if (fromPeer >= _options.MaxPendingPerPeer)
        {
            Refuse(DagRefusal.PendingFull, from, $"{fromPeer} vertices from this peer already wait for their parents");
            return;
        }
        var pending = new PendingVertex(vertex, from, missing, now + _options.PendingTimeout);
        _pending.Add(vertex.Id, pending);
        _pendingVersion++;
        _pendingPerPeer[from] = fromPeer + 1;
        _pendingQueue.Enqueue((pending.Expires, vertex.Id));
        foreach (var id in missing)
        {
            if (!_waiting.TryGetValue(id, out var list)) _waiting[id] = list = [];
            list.Add(vertex.Id);
        }
        RequestVertices(from, missing.Where(id => !_pending.ContainsKey(id)), now);
    }

    private void RemovePending(PendingVertex pending)
    {
        _pending.Remove(pending.Vertex.Id);
        _pendingVersion++;
        int count = _pendingPerPeer.GetValueOrDefault(pending.From) - 1;
        if (count <= 0) _pendingPerPeer.Remove(pending.From);
        else _pendingPerPeer[pending.From] = count;
    }

    private void ExpirePending(DateTimeOffset now)
    {
        while (_pendingQueue.TryPeek(out var entry) && entry.Expires <= now)
        {
            _pendingQueue.Dequeue();
            if (!_pending.TryGetValue(entry.Id, out var pending) || pending.Expires != entry.Expires) continue;
            RemovePending(pending);
            foreach (var missing in pending.Missing)
            {
                if (!_waiting.TryGetValue(missing, out var list)) continue;
                list.Remove(entry.Id);
                if (list.Count == 0) _waiting.Remove(missing);
            }
            Refuse(DagRefusal.UnknownParents, pending.From,
                $"vertex {entry.Id.ToShortString()} dropped: {pending.Missing.Count} parents never arrived");
        }
    }

    /// <summary>Inserts a vertex whose parents are all held; null when refused.</summary>
    private VertexNode? Insert(DagVertex vertex, DateTimeOffset now, bool local, PeerId? from)
    {
        var parents = new VertexNode[vertex.Parents.Count];
        ulong expectedHeight = 0;
        for (int i = 0; i < parents.Length; i++)
        {
            parents[i] = _nodes[vertex.Parents[i]];
            expectedHeight = Math.Max(expectedHeight, parents[i].Height + 1);
        }
        if (vertex.Height != expectedHeight)
        {
            Refuse(DagRefusal.BadHeight, from, $"vertex {vertex.Id.ToShortString()} claims height {vertex.Height}, its parents give {expectedHeight}");
            return null;
        }
        var status = VertexStatus.Processing;
        if (parents.Any(p => p.Status == VertexStatus.Rejected)) status = VertexStatus.Rejected;
        foreach (var key in vertex.ConflictKeys)
            if (_sets.TryGetValue(key, out var decided) && decided.Accepted is not null) status = VertexStatus.Rejected;
        if (status == VertexStatus.Processing && _processing.Count >= _options.MaxProcessing)
        {
            Refuse(DagRefusal.ProcessingFull, from, $"{_processing.Count} vertices are undecided");
            return null;
        }
        if (status == VertexStatus.Processing && _processingByAuthor.GetValueOrDefault(vertex.Author) >= _options.MaxProcessingPerAuthor)
        {
            Refuse(DagRefusal.ProcessingFull, from, $"{_options.MaxProcessingPerAuthor} vertices of {vertex.Author} are undecided");
            return null;
        }
        var node = AddNode(vertex, parents, status, now, status == VertexStatus.Rejected ? now : null, local);
        _store.Add(vertex, status, now, local);
        _observer.OnAdded(vertex, status, local);
        if (status == VertexStatus.Rejected)
        {
            Counters.Rejected++;
            Decided(node);
        }
        return node;
    }

    private VertexNode AddNode(DagVertex vertex, VertexNode[] parents, VertexStatus status, DateTimeOffset firstSeen, DateTimeOffset? decidedAt,
        bool local)
    {
        var sets = new ConflictSet[vertex.ConflictKeys.Count];
        for (int i = 0; i < sets.Length; i++)
        {
            var key = vertex.ConflictKeys[i];
            if (!_sets.TryGetValue(key, out var set)) _sets[key] = set = new ConflictSet(key);
            sets[i] = set;
        }
        var node = new VertexNode(vertex, parents, sets, firstSeen, local, _pollSequence) { Status = status, DecidedAt = decidedAt };
        _nodes.Add(vertex.Id, node);
        foreach (var parent in parents) parent.Children.Add(node);
        if (status != VertexStatus.Rejected)
        {
            foreach (var parent in parents)
                if (parent.LiveChildren++ == 0) _tips.Remove(parent);
            _tips.Add(node);
        }
        switch (status)
        {
            case VertexStatus.Processing:
                foreach (var parent in parents)
                    if (parent.IsProcessing) parent.ProcessingChildren++;
                _processing.Add(node);
                _processingVersion++;
                _processingByAuthor[node.Author] = _processingByAuthor.GetValueOrDefault(node.Author) + 1;
                _fruitlessPolls = 0; // something new to vote on: full speed
                foreach (var set in sets)
                {
                    set.Processing.Add(node);
                    set.Preference ??= node;
                }
                break;
            case VertexStatus.Accepted:
                _acceptedCount++;
                foreach (var set in sets) set.Accepted = node;
                break;
            default:
                _rejectedCount++;
                break;
        }
        // A new vertex changes no held vertex's strong preference (a set gets it as its preference only when it had no
        // undecided member), so it leaves _epoch alone; it only makes its id held.
        _heldVersion++;
        foreach (var set in sets)
        {
            if (!set.ByAuthor.TryGetValue(node.Author, out var first))
            {
                set.ByAuthor[node.Author] = node;
                continue;
            }
            if (first == node || !_reportedEquivocations.Add((node.Author, set.Key))) continue;
            var proof = EquivocationProof.Create(first.Vertex, vertex, set.Key, firstSeen);
            Counters.Equivocations++;
            _store.AddEquivocation(proof);
            _observer.OnEquivocation(proof);
        }
        return node;
    }

    /// <summary>Accepts a processing vertex whose parents are accepted; its conflicting vertices are rejected.</summary>
    private void Accept(VertexNode node, DateTimeOffset now)
    {
        LeaveProcessing(node, VertexStatus.Accepted, now);
        _acceptedCount++;
        Counters.Accepted++;
        var losers = new List<VertexNode>();
        foreach (var set in node.Sets)
        {
            set.Accepted = node;
            losers.AddRange(set.Processing);
        }
        _store.SetDecided(node.Id, VertexStatus.Accepted, now);
        Decided(node);
        foreach (var loser in losers) Reject(loser, now);
    }

    /// <summary>Rejects a processing vertex and every processing descendant.</summary>
    private void Reject(VertexNode root, DateTimeOffset now)
    {
        var stack = new Stack<VertexNode>();
        stack.Push(root);
        while (stack.TryPop(out var node))
        {
            if (!node.IsProcessing) continue;
            LeaveProcessing(node, VertexStatus.Rejected, now);
            _rejectedCount++;
            Counters.Rejected++;
            _tips.Remove(node);
            foreach (var parent in node.Parents)
                if (--parent.LiveChildren == 0 && parent.Status != VertexStatus.Rejected) _tips.Add(parent);
            _store.SetDecided(node.Id, VertexStatus.Rejected, now);
            Decided(node);
            foreach (var child in node.Children) stack.Push(child);
        }
    }

    private void LeaveProcessing(VertexNode node, VertexStatus status, DateTimeOffset now)
    {
        node.Status = status;
        node.DecidedAt = now;
        _departures++;
        if (node.PushPending) _pushPending--;
        node.PushPending = false;
        _processing.Remove(node);
        _processingVersion++;
        if (--_processingByAuthor[node.Author] == 0) _processingByAuthor.Remove(node.Author);
        foreach (var parent in node.Parents)
            if (parent.IsProcessing) parent.ProcessingChildren--;
        foreach (var set in node.Sets)
        {
            var before = set.Preference;
            set.Processing.Remove(node);
            if (set.Preference == node) set.Preference = null;
            set.UpdatePreference();
            if (set.Preference == before) continue;
            StrongMayChange(before);
            StrongMayChange(set.Preference);
        }
        StrongMayChange(node);
    }

    // Vertices whose strong preference may have changed since _epoch last changed (_strongChangesBase counts those
    // logged before): a cached query answer is brought up to date by re-reading only these.
    private readonly List<VertexNode> _strongChanges = [];
    private long _strongChangesBase;
    // Beyond this many changes the log is dropped and _epoch bumped (everything re-read).
    private const int MaxStrongChanges = 1024;

    private long StrongChangeSequence => _strongChangesBase + _strongChanges.Count;

    /// <summary>
    /// Called when <paramref name="node"/>'s status or its preference in a set changed. Strong preference reads the
    /// node's own status and preferences and those of its processing ancestors, so the change reaches the node and
    /// its processing descendants. Without processing children (the usual case: contested vertices are nobody's
    /// parent) only the node's memo is dropped and the node logged; otherwise every memo and cached answer is stale.
    /// </summary>
    private void StrongMayChange(VertexNode? node)
    {
        if (node is null) return;
        if (node.ProcessingChildren > 0 || _strongChanges.Count >= MaxStrongChanges)
        {
            _epoch++;
            _strongChangesBase += _strongChanges.Count;
            _strongChanges.Clear();
            return;
        }
        node.StrongEpoch = -1;
        _strongChanges.Add(node);
    }

    private void Decided(VertexNode node)
    {
        _observer.OnDecided(new DagDecision(node.Vertex, node.Status, node.FirstSeen, node.DecidedAt!.Value, node.Local));
    }

    private readonly Stack<(VertexNode Node, bool Expanded)> _strongStack = new();

    /// <summary>Preferred, and so are all undecided ancestors (accepted ones are preferred by definition).</summary>
    private bool IsStronglyPreferred(VertexNode start)
    {
        if (start.Status != VertexStatus.Processing) return start.Status == VertexStatus.Accepted;
        if (start.StrongEpoch == _epoch) return start.StrongValue;
        if (!HasProcessingParent(start))
        {
            // No undecided ancestors (the common case: a fresh vertex over accepted parents): no walk needed.
            bool direct = start.IsPreferred;
            foreach (var parent in start.Parents)
            {
                if (!direct) break;
                direct = parent.Status == VertexStatus.Accepted;
            }
            start.StrongValue = direct;
            start.StrongEpoch = _epoch;
            return direct;
        }
        // Iterative post-order over undecided ancestors: a long undecided chain must not exhaust the stack. One stack
        // for all calls (a query asks about up to MaxQueryIds vertices: a stack per call was most of the engine's garbage).
        var stack = _strongStack;
        stack.Clear();
        stack.Push((start, false));
        while (stack.TryPop(out var item))
        {
            var node = item.Node;
            if (node.StrongEpoch == _epoch) continue;
            if (!item.Expanded)
            {
                stack.Push((node, true));
                foreach (var parent in node.Parents)
                    if (parent.IsProcessing && parent.StrongEpoch != _epoch) stack.Push((parent, false));
                continue;
            }
            bool value = node.IsPreferred;
            foreach (var parent in node.Parents)
            {
                if (!value) break;
                value = parent.Status == VertexStatus.Accepted || (parent.IsProcessing && parent.StrongEpoch == _epoch && parent.StrongValue);
            }
            node.StrongValue = value;
            node.StrongEpoch = _epoch;
        }
        return start.StrongValue;
    }

    private static bool HasProcessingParent(VertexNode node)
    {
        foreach (var parent in node.Parents)
            if (parent.IsProcessing) return true;
        return false;
    }

    /// <summary>
    /// Parents for a new local vertex: tips that can never be rejected (accepted, or undecided without conflict keys
    /// over such ancestors), oldest first so stragglers get absorbed; below a contested tip, its safe ancestors.
    /// </summary>
    private List<VertexNode> SelectParents()
    {
        var safe = new Dictionary<VertexNode, bool>();
        var chosen = new List<VertexNode>();
        var visited = new HashSet<VertexNode>();
        var queue = new Queue<VertexNode>(_tips.OrderBy(n => n.Height).ThenBy(n => n.Id));
        while (chosen.Count < _options.ParentsPerVertex && queue.TryDequeue(out var node))
        {
            if (!visited.Add(node)) continue;
            if (IsSafeParent(node, safe))
            {
                chosen.Add(node);
                continue;
            }
            foreach (var parent in node.Parents) queue.Enqueue(parent);
        }
        // A chosen vertex that is an ancestor of another chosen one adds nothing; keep the DAG thin.
        return chosen;
    }

    private static bool IsSafeParent(VertexNode start, Dictionary<VertexNode, bool> memo)
    {
        var stack = new Stack<(VertexNode Node, bool Expanded)>();
        stack.Push((start, false));
        while (stack.TryPop(out var item))
        {
            var node = item.Node;
            if (memo.ContainsKey(node)) continue;
            if (node.Status != VertexStatus.Processing)
            {
                memo[node] = node.Status == VertexStatus.Accepted;
                continue;
            }
            if (node.Sets.Length > 0)
            {
                memo[node] = false;
                continue;
            }
            if (!item.Expanded)
            {
                stack.Push((node, true));
                foreach (var parent in node.Parents)
                    if (!memo.ContainsKey(parent)) stack.Push((parent, false));
                continue;
            }
            memo[node] = node.Parents.All(p => memo.TryGetValue(p, out bool ok) && ok);
        }
        return memo[start];
    }

    private IEnumerable<VertexNode> OrderedTips() => _tips.OrderByDescending(n => n.Height).ThenBy(n => n.Id);

    /// <summary>Loads the stored DAG: decided vertices keep their decision, undecided ones are voted on again.</summary>
    private void Restore()
    {
        foreach (var proof in _store.LoadEquivocations(_options)) _reportedEquivocations.Add((proof.Author, proof.Key));
        foreach (var stored in _store.Load())
        {
            var vertex = VertexCodec.OpenTrusted(stored.Envelope, _options.Name);
            if (_nodes.ContainsKey(vertex.Id)) continue;
            var parents = new VertexNode[vertex.Parents.Count];
            bool complete = true;
            for (int i = 0; i < parents.Length && complete; i++) complete = _nodes.TryGetValue(vertex.Parents[i], out parents[i]!);
            if (!complete) continue; // cannot happen for a store written by this engine (parents first)
            var status = stored.Status;
            if (status == VertexStatus.Processing && parents.Any(p => p.Status == VertexStatus.Rejected)) status = VertexStatus.Rejected;
            var node = AddNode(vertex, parents, status, stored.FirstSeen, status == VertexStatus.Processing ? null : stored.DecidedAt ?? stored.FirstSeen,
                stored.Local);
            if (status != stored.Status) _store.SetDecided(node.Id, status, node.DecidedAt!.Value);
        }
        _store.Commit();
    }
}
