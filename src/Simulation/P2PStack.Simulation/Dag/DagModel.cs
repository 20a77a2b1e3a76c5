using System.Diagnostics;
using Google.Protobuf;
using P2PStack.Consensus.Dag;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;
using P2PStack.Neural;
using P2PStack.Neural.Messages;

namespace P2PStack.Simulation.Dag;

/// <summary>
/// DAG consensus on a fast in-process network model: N real <see cref="DagEngine"/>s (the node's own Snowball,
/// graph, fetch and sync code, real Ed25519-signed vertices, each distinct envelope checked for real once per run
/// (<see cref="SharedVertexOpener"/>), every message handed over as the sender's object with its encoded size counted, or with
/// <see cref="DagModelOptions.ShareMessages"/> off encoded to protobuf bytes and parsed back (the same run); with
/// <see cref="DagModelOptions.SignEnvelopes"/> also a signed and verified neural envelope per message) driven by
/// a discrete-event scheduler on a virtual clock: every message arrives after the link latency, processing takes no
/// virtual time. Not modelled: the connection stack (Noise, Yamux, streams), neural queues and CPU contention. One seed
/// gives the same run, event for event.
/// </summary>
public sealed class DagModel
{
    internal static readonly DateTimeOffset Origin = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(10);

    private readonly DagModelOptions _options;
    private readonly DagConsensusOptions _consensus;
    private readonly NeuralMeshOptions _neural = new();
    private readonly SharedVertexOpener _opener;
    private readonly Random _random;
    private readonly EventQueue<ModelEvent> _queue = new();
    private readonly Dictionary<PeerId, ModelNode> _byPeer = [];
    private readonly List<Proposal> _proposals = [];
    private readonly Dictionary<ConflictKey, List<VertexId>> _byKey = [];
    private readonly Dictionary<ConflictKey, (long Bucket, Dictionary<VertexId, int> Support)> _support = [];
    private readonly List<(PeerId Author, VertexId A, VertexId B)> _equivocations = [];
    private DagMessage? _lastMessage;
    private Wire? _lastWire;
    private long _sequence;
    private long _now;
    private long _messages;
    private long _bytes;
    private long _envelopesVerified;
    private bool _counting;

    private DagModel(DagModelOptions options)
    {
        options.Validate();
        _options = options;
        _random = new Random(options.Seed);
        _opener = new SharedVertexOpener(options.ShareVertexChecks);
        _consensus = new DagConsensusOptions();
        options.Consensus?.Invoke(_consensus);
        _consensus.Validate();
        var seed = new byte[32];
        var keys = new List<PrivateKey>();
        for (int i = 0; i < options.Nodes; i++)
        {
            _random.NextBytes(seed);
            keys.Add(Ed25519PrivateKey.FromSeed(seed));
        }
        var membership = new StaticMembership(keys.Select(k => PeerId.FromPublicKey(k.PublicKey)));
        int byzantine = (int)Math.Round(options.ByzantineFraction * options.Nodes);
        var order = Enumerable.Range(0, options.Nodes).ToArray();
        _random.Shuffle(order);
        var kinds = new ByzantineKind?[options.Nodes];
        for (int i = 0; i < byzantine; i++) kinds[order[i]] = options.ByzantineKinds[i % options.ByzantineKinds.Count];
        Nodes = new ModelNode[options.Nodes];
        for (int i = 0; i < options.Nodes; i++)
        {
            var node = new ModelNode(this, i, keys[i]);
            node.Engine = new DagEngine(_consensus, keys[i], membership, node, new MemoryDagStore(), node, new Random(_random.Next()), Now, _opener);
            if (kinds[i] is { } kind) node.Byzantine = new ByzantineNode(kind, node, this, new Random(_random.Next()));
            Nodes[i] = node;
            _byPeer[node.Peer] = node;
        }
    }

    internal ModelNode[] Nodes { get; }

    internal DateTimeOffset Now => Origin + TimeSpan.FromTicks(_now);

    internal DagConsensusOptions Consensus => _consensus;

    internal IEnumerable<ModelNode> Honest => Nodes.Where(n => n.Byzantine is null);

    /// <summary>Runs one seeded scenario to its end (all honest proposals decided everywhere, or the time limit).</summary>
    public static DagModelResult Run(DagModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        long started = Stopwatch.GetTimestamp();
        var model = new DagModel(options);
        return model.Execute(started);
    }

    private DagModelResult Execute(long started)
    {
        foreach (var node in Nodes) Schedule(0, new WakeEvent(node));
        PlanProposals();
        long limit = _options.TimeLimit.Ticks;
        bool done = false;
        while (_queue.TryDequeue(out var next, out var at))
        {
            if (at.Ticks > limit) break;
            _now = at.Ticks;
            switch (next)
            {
                case DeliverEvent deliver:
                    Deliver(deliver);
                    break;
                case WakeEvent wake:
                    if (wake.Node.ScheduledWake != _now) break;
                    wake.Node.ScheduledWake = long.MaxValue;
                    wake.Node.Engine.Tick(Now);
                    Reschedule(wake.Node);
                    break;
                case ActionEvent action:
                    action.Action();
                    break;
                case CheckEvent:
                    if (AllDecided())
                    {
                        done = true;
                        break;
                    }
                    Schedule(_now + CheckInterval.Ticks, new CheckEvent());
                    break;
            }
            if (done) break;
        }
        return Tally(Stopwatch.GetElapsedTime(started));
    }

    private void PlanProposals()
    {
        var honest = Honest.ToList();
        if (honest.Count == 0) return;
        long inject = _options.InjectAt.Ticks;
        long Spread() => _options.InjectionWindow > TimeSpan.Zero ? (long)(_random.NextDouble() * _options.InjectionWindow.Ticks) : 0;
        var contested = new List<ConflictKey>();
        for (int c = 0; c < _options.ConflictSets; c++)
        {
            var key = ConflictKey.FromText($"conflict-{c}");
            contested.Add(key);
            var proposers = honest.OrderBy(_ => _random.Next()).Take(Math.Min(_options.ProposalsPerConflict, honest.Count)).ToList();
            foreach (var proposer in proposers) AddProposal(proposer, inject + Spread(), key);
        }
        for (int v = 0; v < _options.VirtuousProposals; v++) AddProposal(honest[_random.Next(honest.Count)], inject + Spread(), null);
        foreach (var node in Nodes.Where(n => n.Byzantine is not null))
        {
            var byzantine = node.Byzantine!;
            Schedule(inject, new ActionEvent(() =>
            {
                byzantine.Act(contested, Now);
                Reschedule(node);
            }));
        }
        Schedule(inject, new ActionEvent(() => _counting = true));
        Schedule(inject + CheckInterval.Ticks, new CheckEvent());
    }

    private void AddProposal(ModelNode node, long at, ConflictKey? key)
    {
        var proposal = new Proposal(node, at, key);
        _proposals.Add(proposal);
        var payload = new byte[_options.PayloadBytes];
        _random.NextBytes(payload);
        Schedule(at, new ActionEvent(() =>
        {
            proposal.Id = node.Engine.Propose(payload, key is null ? null : [key], Now).Id;
            Reschedule(node);
        }));
    }

    private void Schedule(long ticks, ModelEvent e) => _queue.Enqueue(e, (ticks, _sequence++));

    internal void Reschedule(ModelNode node)
    {
        if (node.Engine.GetNextDeadline() is not { } next) return;
        long ticks = Math.Max(_now, (next - Origin).Ticks);
        if (ticks >= node.ScheduledWake) return;
        if (ticks == _now && ++node.WakesThisTick > 10_000) throw new InvalidOperationException($"node {node.Index} keeps asking to wake at {Now:O}");
        if (ticks != _now) node.WakesThisTick = 0;
        node.ScheduledWake = ticks;
        Schedule(ticks, new WakeEvent(node));
    }

    /// <summary>Sends a message from <paramref name="from"/> (encoded now, delivered after the link delay).</summary>
    internal void Transmit(ModelNode from, PeerId to, DagMessage message)
    {
        if (!_byPeer.TryGetValue(to, out var target)) return;
        Wire wire;
        if (_options.SignEnvelopes) wire = new Wire(Seal(from, to, message));
        else if (ReferenceEquals(message, _lastMessage)) wire = _lastWire!; // a query goes to k peers: encode it once
        else if (_options.ShareMessages)
        {
            // An engine sends the same query object again while its undecided vertices are the same: interned once.
            if (message.KindCase == DagMessage.KindOneofCase.Query && !ReferenceEquals(message.Query, from.InternedQuery))
            {
                Intern(message.Query.Ids);
                from.InternedQuery = message.Query;
            }
            (_lastMessage, _lastWire) = (message, wire = new Wire(message, message.CalculateSize()));
        }
        else (_lastMessage, _lastWire) = (message, wire = new Wire(message.ToByteArray()));
        if (_counting)
        {
            _messages++;
            _bytes += wire.Length;
        }
        long delay = _options.Latency.Ticks + (_options.Jitter > TimeSpan.Zero ? (long)(_random.NextDouble() * _options.Jitter.Ticks) : 0);
        // With a fixed delay, messages arrive in the order they are sent: the queue's in-order lane.
        _queue.EnqueueInOrder(new DeliverEvent(from, target, wire), (_now + delay, _sequence++));
    }

    // One ByteString object per vertex id for the whole run. A query's ids are replaced by these before it goes out
    // (the same bytes: the receivers and the counted size see no difference), so that a receiver comparing the query
    // with the previous one it answered (DagEngine's answer cache) finds equal ids by reference: once per query here
    // instead of once per receiver (k) there, each touching both id objects.
    private readonly Dictionary<ByteString, ByteString> _internedByObject = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<VertexId, ByteString> _internedById = [];

    private void Intern(Google.Protobuf.Collections.RepeatedField<ByteString> ids)
    {
        for (int i = 0; i < ids.Count; i++)
        {
            var id = ids[i];
            if (!_internedByObject.TryGetValue(id, out var canonical))
            {
                if (id.Length != VertexId.Length) continue;
                var key = VertexId.FromBytes(id.Span);
                if (!_internedById.TryGetValue(key, out canonical)) _internedById[key] = canonical = id;
                _internedByObject[id] = canonical;
            }
            ids[i] = canonical;
        }
    }

    private void Deliver(DeliverEvent deliver)
    {
        var to = deliver.To;
        DagMessage message;
        try
        {
            // The k copies of a query share their bytes, and parse to the same message: parsed once, read by each
            // receiver (engines never change a received message).
            message = _options.SignEnvelopes ? Open(deliver) : deliver.Wire.Parsed ??= DagMessage.Parser.ParseFrom(deliver.Wire.Bytes!);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or DagFormatException or InvalidOperationException)
        {
            throw new InvalidOperationException($"the model could not read a message from node {deliver.From.Index}: {e.Message}", e);
        }
        if (to.Byzantine is { } byzantine) byzantine.Receive(deliver.From.Peer, message, Now);
        else to.Engine.Receive(deliver.From.Peer, message, Now);
        Reschedule(to);
    }

    // A signed neural envelope per message, exactly what the node's neural mesh sends and checks.
    private byte[] Seal(ModelNode from, PeerId to, DagMessage message)
    {
        var neural = new NeuralMessage
        {
            Id = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
            SourcePeer = ByteString.CopyFrom(from.Peer.Bytes.Span),
            Destination = new Destination { Peer = ByteString.CopyFrom(to.Bytes.Span) },
            Priority = (uint)_consensus.VotePriority,
            TtlSeconds = (uint)_consensus.MessageTtl.TotalSeconds,
            CreatedAtMs = (ulong)Now.ToUnixTimeMilliseconds(),
        };
        NeuralMessageTypes.SetBody(neural, DagWire.ToBody(message, _consensus.ProtocolTag));
        return NeuralMessageCodec.Seal(neural, from.Key);
    }

    private DagMessage Open(DeliverEvent deliver)
    {
        var result = NeuralMessageCodec.Verify(deliver.Wire.Bytes!, 0, Now, _neural);
        if (result.Message is not { } verified) throw new InvalidOperationException($"neural envelope refused: {result.Reason} ({result.Detail})");
        if (verified.Source != deliver.From.Peer) throw new InvalidOperationException("neural envelope signed by another peer");
        _envelopesVerified++;
        return verified.Body switch
        {
            ConsensusVote vote => DagWire.FromVote(vote),
            ConsensusProposal proposal => DagWire.FromProposal(proposal),
            _ => throw new InvalidOperationException($"unexpected body {verified.Body.GetType().Name}"),
        };
    }

    /// <summary>Called when an honest node first holds a vertex: the registry the byzantine oracle reads.</summary>
    internal void Register(DagVertex vertex)
    {
        foreach (var key in vertex.ConflictKeys)
        {
            if (!_byKey.TryGetValue(key, out var list)) _byKey[key] = list = [];
            if (!list.Contains(vertex.Id)) list.Add(vertex.Id);
        }
    }

    internal IReadOnlyList<VertexId> Members(ConflictKey key) => _byKey.TryGetValue(key, out var list) ? list : [];

    /// <summary>How many honest nodes prefer (or accepted) each vertex of <paramref name="key"/>, refreshed every 10 ms
    /// of virtual time: the global view a balancing adversary is assumed to have.</summary>
    internal Dictionary<VertexId, int> HonestSupport(ConflictKey key)
    {
        long bucket = _now / CheckInterval.Ticks;
        if (_support.TryGetValue(key, out var cached) && cached.Bucket == bucket) return cached.Support;
        var support = new Dictionary<VertexId, int>();
        foreach (var node in Honest)
            if (node.Engine.Preference(key) is { } id) support[id] = support.GetValueOrDefault(id) + 1;
        _support[key] = (bucket, support);
        return support;
    }

    internal void RecordEquivocation(PeerId author, VertexId a, VertexId b) => _equivocations.Add((author, a, b));

    private bool AllDecided()
    {
        if (_proposals.Any(p => p.Id is null)) return false;
        foreach (var node in Honest)
        {
            if (node.Engine.ProcessingCount > 0) return false;
            foreach (var proposal in _proposals)
                if (!IsDecided(node, proposal)) return false;
        }
        return true;
    }

    // Decided here: held and decided, or (for a contested proposal this node never received) another vertex of its
    // key was accepted here, so the proposal would be rejected on arrival.
    private static bool IsDecided(ModelNode node, Proposal proposal) =>
        node.Engine.StatusOf(proposal.Id!.Value) is VertexStatus.Accepted or VertexStatus.Rejected
        || (node.Engine.StatusOf(proposal.Id!.Value) is null && proposal.Key is { } key && node.Engine.AcceptedFor(key) is { } winner
            && winner != proposal.Id);

    private DagModelResult Tally(TimeSpan wall)
    {
        var honest = Honest.ToList();
        var violations = new List<string>();
        // Safety: one accepted vertex per conflict key over all honest nodes; no vertex accepted by one honest node
        // and rejected by another.
        var acceptedByKey = new Dictionary<ConflictKey, HashSet<VertexId>>();
        var outcomes = new Dictionary<VertexId, HashSet<VertexStatus>>();
        foreach (var node in honest)
        {
            foreach (var (vertex, status) in node.Engine.Vertices)
            {
                if (status == VertexStatus.Processing) continue;
                if (!outcomes.TryGetValue(vertex.Id, out var seen)) outcomes[vertex.Id] = seen = [];
                seen.Add(status);
                if (status != VertexStatus.Accepted) continue;
                foreach (var key in vertex.ConflictKeys)
                {
                    if (!acceptedByKey.TryGetValue(key, out var ids)) acceptedByKey[key] = ids = [];
                    ids.Add(vertex.Id);
                }
            }
        }
        foreach (var (key, ids) in acceptedByKey.Where(kv => kv.Value.Count > 1))
            violations.Add($"key '{key}': {ids.Count} different vertices accepted ({string.Join(", ", ids.Select(i => i.ToShortString()))})");
        foreach (var (id, seen) in outcomes.Where(kv => kv.Value.Count > 1))
            violations.Add($"vertex {id.ToShortString()} accepted by some honest nodes and rejected by others");

        // Liveness: every virtuous proposal accepted at every honest node. Conflicts: Avalanche promises nothing for
        // contested (rogue) vertices, so their resolution is reported, not required.
        var undecided = new List<string>();
        var unresolved = new List<string>();
        var virtuous = new List<double>();
        var contested = new List<double>();
        int decisions = 0, neverReceived = 0;
        foreach (var proposal in _proposals)
        {
            if (proposal.Id is not { } id)
            {
                (proposal.Key is null ? undecided : unresolved).Add($"proposal at node {proposal.Node.Index} never made");
                continue;
            }
            bool everywhere = true;
            foreach (var node in honest)
            {
                if (!node.Decisions.TryGetValue(id, out var decision))
                {
                    if (IsDecided(node, proposal))
                    {
                        neverReceived++;
                        continue; // lost its conflict before it arrived here: no latency to count
                    }
                    everywhere = false;
                    if (proposal.Key is null) undecided.Add($"{id.ToShortString()} at node {node.Index}");
                    continue;
                }
                if (proposal.Key is not null) continue;
                if (decision.Status != VertexStatus.Accepted)
                {
                    undecided.Add($"virtuous {id.ToShortString()} rejected at node {node.Index}");
                    everywhere = false;
                }
                else virtuous.Add((decision.At - proposal.At) / (double)TimeSpan.TicksPerMillisecond);
            }
            if (everywhere) decisions++;
        }
        // A conflict is final at a node when the node accepts one of its vertices: from the first proposal of the key.
        int conflicts = 0, resolved = 0;
        var keys = new List<ContestedKeyOutcome>();
        foreach (var group in _proposals.Where(p => p.Key is not null).GroupBy(p => p.Key!))
        {
            conflicts++;
            keys.Add(Outcome(group.Key, honest));
            long first = group.Min(p => p.At);
            bool everywhere = true;
            foreach (var node in honest)
            {
                if (node.Engine.AcceptedFor(group.Key) is { } winner && node.Decisions.TryGetValue(winner, out var accepted))
                {
                    contested.Add((accepted.At - first) / (double)TimeSpan.TicksPerMillisecond);
                }
                else
                {
                    everywhere = false;
                    unresolved.Add($"conflict '{group.Key}' at node {node.Index}");
                }
            }
            if (everywhere) resolved++;
        }

        // Equivocations: every honest node holding both vertices of a pair should have reported the author.
        // A proof is two envelopes: each distinct pair is verified once (at the same time for every node), not once
        // per node holding it.
        var verified = new Dictionary<(VertexId, VertexId), bool>();
        bool Verified(EquivocationProof proof)
        {
            var pair = (proof.First.Id, proof.Second.Id);
            if (!verified.TryGetValue(pair, out bool ok)) verified[pair] = ok = Verifies(proof);
            return ok;
        }
        int expected = 0, reported = 0;
        foreach (var node in honest)
        {
            foreach (var author in _equivocations.Where(e => node.Engine.StatusOf(e.A) is not null && node.Engine.StatusOf(e.B) is not null)
                .Select(e => e.Author).Distinct())
            {
                expected++;
                if (node.Proofs.Any(p => p.Author == author && Verified(p))) reported++;
            }
        }

        var refused = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var node in honest)
            foreach (var (reason, count) in node.Engine.Counters.RefusedByReason) refused[reason] = refused.GetValueOrDefault(reason) + count;
        long polls = Nodes.Sum(n => n.Engine.Counters.PollsStarted);
        string kinds = _options.ByzantineFraction > 0 ? string.Join("+", _options.ByzantineKinds) : "none";
        return new DagModelResult(_options.Nodes, _options.Seed, Nodes.Count(n => n.Byzantine is not null), kinds, violations, undecided,
            conflicts, resolved, unresolved, virtuous, contested, neverReceived, _messages, _bytes, polls, decisions, expected, reported, refused.Values.Sum(), refused,
            TimeSpan.FromTicks(_now) - _options.InjectAt, wall, _opener.Checks, _opener.Shared, _envelopesVerified, keys);
    }

    private ContestedKeyOutcome Outcome(ConflictKey key, List<ModelNode> honest)
    {
        var members = Members(key);
        int equivocators = _equivocations.Where(e => members.Contains(e.A) || members.Contains(e.B)).Select(e => e.Author).Distinct().Count();
        var preferred = new Dictionary<VertexId, int>();
        int accepted = 0;
        foreach (var node in honest)
        {
            if (node.Engine.AcceptedFor(key) is not null) accepted++;
            if (node.Engine.Preference(key) is { } id) preferred[id] = preferred.GetValueOrDefault(id) + 1;
        }
        return new ContestedKeyOutcome(members.Count, equivocators, accepted == honest.Count, accepted,
            preferred.Count == 0 ? 0 : preferred.Values.Max(), preferred.Count);
    }

    private bool Verifies(EquivocationProof proof)
    {
        try
        {
            EquivocationProof.Verify(proof.First.Envelope, proof.Second.Envelope, _consensus, Now);
            return true;
        }
        catch (DagFormatException)
        {
            return false;
        }
    }

    private sealed class Proposal(ModelNode node, long at, ConflictKey? key)
    {
        public ModelNode Node { get; } = node;

        public long At { get; } = at;

        public ConflictKey? Key { get; } = key;

        public VertexId? Id { get; set; }
    }

    private abstract class ModelEvent;

    private sealed class DeliverEvent(ModelNode from, ModelNode to, Wire wire) : ModelEvent
    {
        public ModelNode From { get; } = from;

        public ModelNode To { get; } = to;

        public Wire Wire { get; } = wire;
    }

    /// <summary>A message's bytes on the wire, and the message parsed from them once one receiver has; or, with
    /// <see cref="DagModelOptions.ShareMessages"/>, the sender's message itself and its encoded length.</summary>
    private sealed class Wire
    {
        public Wire(byte[] bytes) => (Bytes, Length) = (bytes, bytes.Length);

        public Wire(DagMessage message, int length) => (Parsed, Length) = (message, length);

        public byte[]? Bytes { get; }

        public int Length { get; }

        public DagMessage? Parsed { get; set; }
    }

    private sealed class WakeEvent(ModelNode node) : ModelEvent
    {
        public ModelNode Node { get; } = node;
    }

    private sealed class ActionEvent(Action action) : ModelEvent
    {
        public Action Action { get; } = action;
    }

    private sealed class CheckEvent : ModelEvent;
}

/// <summary>One node of the model: an engine, its outbox into the model, and what it decided and reported.</summary>
internal sealed class ModelNode(DagModel model, int index, PrivateKey key) : IDagOutbox, IDagEngineObserver
{
    public int Index { get; } = index;

    public PrivateKey Key { get; } = key;

    public PeerId Peer { get; } = PeerId.FromPublicKey(key.PublicKey);

    public DagEngine Engine { get; set; } = null!;

    public ByzantineNode? Byzantine { get; set; }

    public long ScheduledWake { get; set; } = long.MaxValue;

    /// <summary>The last query of this node whose ids the model interned.</summary>
    public Query? InternedQuery { get; set; }

    public int WakesThisTick { get; set; }

    public Dictionary<VertexId, (VertexStatus Status, long At)> Decisions { get; } = [];

    public List<EquivocationProof> Proofs { get; } = [];

    public void Send(PeerId to, DagMessage message)
    {
        if (Byzantine?.Filter(message) is { } filtered) model.Transmit(this, to, filtered);
        else if (Byzantine is null) model.Transmit(this, to, message);
    }

    public void OnAdded(DagVertex vertex, VertexStatus status, bool local)
    {
        if (Byzantine is null) model.Register(vertex);
    }

    public void OnDecided(DagDecision decision) => Decisions[decision.Id] = (decision.Outcome, (decision.DecidedAt - DagModel.Origin).Ticks);

    public void OnEquivocation(EquivocationProof proof) => Proofs.Add(proof);
}
