using Google.Protobuf;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;

namespace P2PStack.Consensus.Dag.Tests;

/// <summary>
/// A few engines wired to each other through a FIFO of encoded messages on a virtual clock: each message arrives
/// <see cref="Delay"/> after it was sent. Deterministic for a seed. A test can intercept what any node sends.
/// </summary>
internal sealed class EngineCluster
{
    public static readonly DateTimeOffset Start = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly PriorityQueue<(int From, int To, byte[] Wire), (DateTimeOffset At, long Sequence)> _queue = new();
    private readonly Random _jitter;
    private long _sequence;

    public EngineCluster(int size, Action<DagConsensusOptions>? configure = null, int seed = 1, IReadOnlyList<PeerId>? extraMembers = null)
    {
        var random = new Random(seed);
        _jitter = new Random(seed + 1);
        Options = new DagConsensusOptions { SyncInterval = TimeSpan.FromSeconds(5) };
        configure?.Invoke(Options);
        var seedBytes = new byte[32];
        for (int i = 0; i < size; i++)
        {
            random.NextBytes(seedBytes);
            Keys.Add(Ed25519PrivateKey.FromSeed(seedBytes));
        }
        Membership = new StaticMembership([.. Keys.Select(k => PeerId.FromPublicKey(k.PublicKey)), .. extraMembers ?? []]);
        for (int i = 0; i < size; i++)
        {
            Stores.Add(new MemoryDagStore());
            Observers.Add(new RecordingObserver());
            Engines.Add(null!);
            Restart(i, new Random(random.Next()));
        }
    }

    public DagConsensusOptions Options { get; }

    public List<PrivateKey> Keys { get; } = [];

    public StaticMembership Membership { get; }

    public List<DagEngine> Engines { get; } = [];

    public List<IDagStore> Stores { get; } = [];

    public List<RecordingObserver> Observers { get; } = [];

    public DateTimeOffset Now { get; private set; } = Start;

    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Up to this much extra delay per message (seeded): real links are never in lockstep.</summary>
    public TimeSpan Jitter { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Nodes whose messages (in and out) are dropped, as if they were offline.</summary>
    public HashSet<int> Offline { get; } = [];

    /// <summary>Sees every message before it is queued; return null to drop it.</summary>
    public Func<int, PeerId, DagMessage, DagMessage?>? Intercept { get; set; }

    public PeerId Peer(int index) => PeerId.FromPublicKey(Keys[index].PublicKey);

    public int IndexOf(PeerId peer) => Keys.FindIndex(k => PeerId.FromPublicKey(k.PublicKey) == peer);

    /// <summary>Replaces node <paramref name="index"/>'s engine by a new one on the same store (a restart).</summary>
    public void Restart(int index, Random? random = null) =>
        Engines[index] = new DagEngine(Options, Keys[index], Membership, new Outbox(this, index), Stores[index], Observers[index],
            random ?? new Random(index), Now);

    public DagVertex Propose(int index, string payload, params string[] keys)
    {
        var vertex = Engines[index].Propose(System.Text.Encoding.UTF8.GetBytes(payload), keys.Select(ConflictKey.FromText), Now);
        return vertex;
    }

    /// <summary>Delivers a message to node <paramref name="to"/> as if <paramref name="from"/> had sent it.</summary>
    public void Inject(PeerId from, int to, DagMessage message) => Engines[to].Receive(from, message, Now);

    /// <summary>Runs until <paramref name="done"/> holds or <paramref name="limit"/> of virtual time passes.</summary>
    public bool RunUntil(Func<bool> done, TimeSpan? limit = null)
    {
        var end = Now + (limit ?? TimeSpan.FromSeconds(60));
        while (!done())
        {
            var next = NextEventTime();
            if (next is null || next > end) return done();
            Now = next.Value;
            while (_queue.TryPeek(out _, out var at) && at.At <= Now)
            {
                var (from, to, wire) = _queue.Dequeue();
                if (Offline.Contains(to)) continue;
                Engines[to].Receive(Peer(from), DagMessage.Parser.ParseFrom(wire), Now);
            }
            for (int i = 0; i < Engines.Count; i++)
                if (!Offline.Contains(i) && Engines[i].GetNextDeadline() is { } due && due <= Now) Engines[i].Tick(Now);
        }
        return true;
    }

    public void Advance(TimeSpan by) => RunUntil(() => false, by);

    private DateTimeOffset? NextEventTime()
    {
        DateTimeOffset? next = _queue.TryPeek(out _, out var at) ? at.At : null;
        for (int i = 0; i < Engines.Count; i++)
        {
            if (Offline.Contains(i) || Engines[i].GetNextDeadline() is not { } due) continue;
            if (due < Now) due = Now;
            if (next is null || due < next) next = due;
        }
        return next;
    }

    private sealed class Outbox(EngineCluster cluster, int index) : IDagOutbox
    {
        public void Send(PeerId to, DagMessage message)
        {
            if (cluster.Offline.Contains(index)) return;
            if (cluster.Intercept is { } intercept)
            {
                if (intercept(index, to, message) is not { } kept) return;
                message = kept;
            }
            int target = cluster.IndexOf(to);
            if (target < 0) return;
            var delay = cluster.Delay + cluster.Jitter * cluster._jitter.NextDouble();
            cluster._queue.Enqueue((index, target, message.ToByteArray()), (cluster.Now + delay, cluster._sequence++));
        }
    }
}

/// <summary>Records what an engine reports.</summary>
internal sealed class RecordingObserver : IDagEngineObserver
{
    public List<DagDecision> Decisions { get; } = [];

    public List<EquivocationProof> Equivocations { get; } = [];

    public List<(DagRefusal Reason, PeerId? From, string Detail)> Refusals { get; } = [];

    public void OnDecided(DagDecision decision) => Decisions.Add(decision);

    public void OnEquivocation(EquivocationProof proof) => Equivocations.Add(proof);

    public void OnRefused(DagRefusal reason, PeerId? from, string detail) => Refusals.Add((reason, from, detail));
}
