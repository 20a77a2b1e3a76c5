using P2PStack.Identity;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// Sampling shared by the membership kinds: k slots drawn with replacement, uniformly or proportional to stake weight;
/// a member drawn several times holds several slots (it is asked once, its answer counts once per slot). When all
/// weights are equal and there are at least 2k other members, the k slots go to k distinct members (without
/// replacement), as Avalanche samples a large validator set. Drawing with replacement in small networks keeps each
/// poll random: a sample of the whole membership would let an evenly split small network stay split for ever.
/// </summary>
public abstract class MembershipBase : IDagMembership
{
    public abstract bool Contains(PeerId peer);

    public int CountOthers(PeerId self)
    {
        var members = Snapshot();
        return members.Peers.Length - (members.Index.ContainsKey(self) ? 1 : 0);
    }

    public IReadOnlyList<(PeerId Peer, int Slots)> Sample(PeerId self, int k, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var members = Snapshot();
        // Self found once by its index, not compared with every member (a poll at N = 1,000 compared 1,000 peer ids).
        int selfIndex = members.Index.TryGetValue(self, out int found) ? found : -1;
        int count = members.Peers.Length - (selfIndex >= 0 ? 1 : 0);
        if (count == 0) return [];
        if (members.Uniform && count >= 2 * k)
        {
            // Partial Fisher-Yates: the first k of a random permutation of the others. The list of others is
            // virtual (position p holds member p, or p + 1 from self on) and only the swapped positions are stored,
            // so a poll costs O(k), not O(N); the same draws as over a materialised list.
            var swapped = new Dictionary<int, int>(2 * k);
            int At(int position) => swapped.TryGetValue(position, out int member) ? member : selfIndex >= 0 && position >= selfIndex ? position + 1 : position;
            var sample = new (PeerId, int)[k];
            for (int i = 0; i < k; i++)
            {
                int j = random.Next(i, count);
                int atI = At(i), atJ = At(j);
                swapped[j] = atI;
                swapped[i] = atJ;
                sample[i] = (members.Peers[atJ], 1);
            }
            return sample;
        }
        var others = new List<int>(count);
        for (int i = 0; i < members.Peers.Length; i++)
            if (i != selfIndex) others.Add(i);
        // With replacement, excluding self: draw over the cumulative weights of the others.
        var cumulative = new ulong[others.Count];
        ulong total = 0;
        for (int i = 0; i < others.Count; i++) cumulative[i] = total += members.Weights[others[i]];
        var slots = new Dictionary<PeerId, int>();
        for (int draw = 0; draw < k; draw++)
        {
            ulong target = (ulong)random.NextInt64(0, (long)Math.Min(total, long.MaxValue));
            int index = Array.BinarySearch(cumulative, target + 1);
            if (index < 0) index = ~index;
            var peer = members.Peers[others[Math.Min(index, others.Count - 1)]];
            slots[peer] = slots.GetValueOrDefault(peer) + 1;
        }
        return [.. slots.Select(kv => (kv.Key, kv.Value))];
    }

    public PeerId? Pick(PeerId self, Random random)
    {
        var sample = Sample(self, 1, random);
        return sample.Count == 0 ? null : sample[random.Next(sample.Count)].Peer;
    }

    /// <summary>The members and their weights at this moment.</summary>
    protected abstract MemberTable Snapshot();

    protected sealed class MemberTable
    {
        public MemberTable(IReadOnlyList<(PeerId Peer, ulong Weight)> members)
        {
            // A stable order, so that a seeded sampler gives the same samples for the same membership.
            var sorted = members.OrderBy(m => m.Peer).ToArray();
            Peers = [.. sorted.Select(m => m.Peer)];
            Weights = [.. sorted.Select(m => m.Weight)];
            Index = Peers.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i);
            Uniform = Weights.All(w => w == Weights[0]);
        }

        public PeerId[] Peers { get; }

        public ulong[] Weights { get; }

        public Dictionary<PeerId, int> Index { get; }

        public bool Uniform { get; }
    }
}

/// <summary>A fixed validator set (with stake weights).</summary>
public sealed class StaticMembership : MembershipBase
{
    private readonly MemberTable _table;

    public StaticMembership(IEnumerable<DagValidator> validators)
    {
        ArgumentNullException.ThrowIfNull(validators);
        _table = new MemberTable([.. validators.Select(v => (v.Peer, v.Weight))]);
        if (_table.Weights.Any(w => w == 0)) throw new ArgumentException("validator weights must be at least 1", nameof(validators));
    }

    public StaticMembership(IEnumerable<PeerId> peers) : this(peers.Select(p => new DagValidator(p))) { }

    public IReadOnlyList<PeerId> Members => _table.Peers;

    public override bool Contains(PeerId peer) => _table.Index.ContainsKey(peer);

    protected override MemberTable Snapshot() => _table;
}

/// <summary>
/// Open membership: the local peer plus every peer whose announcement on the DAG's swarm has not expired. Bounded by
/// a capacity (announcements beyond it are ignored until members expire). Thread-safe.
/// </summary>
public sealed class AnnouncedMembership : MembershipBase
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, DateTimeOffset> _expiry = [];
    private readonly PeerId _self;
    private readonly int _capacity;
    private MemberTable? _table;

    public AnnouncedMembership(PeerId self, int capacity)
    {
        ArgumentNullException.ThrowIfNull(self);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _self = self;
        _capacity = capacity;
    }

    public int Count
    {
        get { lock (_gate) return _expiry.Count + (_expiry.ContainsKey(_self) ? 0 : 1); }
    }

    public IReadOnlyList<PeerId> Members => Snapshot().Peers;

    /// <summary>Records an announcement; false when the table is full.</summary>
    public bool Announce(PeerId peer, DateTimeOffset expires)
    {
        lock (_gate)
        {
            if (!_expiry.ContainsKey(peer) && _expiry.Count >= _capacity) return false;
            bool added = !_expiry.ContainsKey(peer);
            _expiry[peer] = expires;
            if (added) _table = null;
            return true;
        }
    }

    /// <summary>Drops expired members; returns how many.</summary>
    public int Expire(DateTimeOffset now)
    {
        lock (_gate)
        {
            var gone = _expiry.Where(kv => kv.Value <= now).Select(kv => kv.Key).ToList();
            foreach (var peer in gone) _expiry.Remove(peer);
            if (gone.Count > 0) _table = null;
            return gone.Count;
        }
    }

    public override bool Contains(PeerId peer)
    {
        if (peer == _self) return true;
        lock (_gate) return _expiry.ContainsKey(peer);
    }

    protected override MemberTable Snapshot()
    {
        lock (_gate)
        {
            return _table ??= new MemberTable([(_self, 1UL), .. _expiry.Keys.Where(p => p != _self).Select(p => (p, 1UL))]);
        }
    }
}
