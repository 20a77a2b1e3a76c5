using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>
/// Remembers accepted (source peer, message id) pairs until their message expires: a message is accepted at most
/// once, and after expiry the TTL check refuses it anyway, so memory stays bounded by the traffic of one TTL window.
/// Signer keys and peer ids cost nothing, so who fills the cache is bounded by what does cost: each entry is charged to
/// its source (signer) and to the <see cref="AddressBlock"/> it arrived from, and each has a share. When the whole
/// cache is full, a block that holds fewer entries than the largest takes the place of that block's entry that expires
/// first; the largest block's own messages are refused. So any number of identities from one address block can push
/// out only that block's entries, and a block's entries go only while another holds at least two fewer. Entries are
/// reserved while a message is routed and released when routing fails, so messages nobody takes hold no entry.
/// </summary>
internal sealed class ReplayGuard(int capacity, int perSourceCapacity, int perBlockCapacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(PeerId Source, UInt128 Id), Entry> _seen = [];
    private readonly Dictionary<PeerId, int> _perSource = [];
    private readonly Dictionary<AddressBlock, Share> _shares = [];
    private readonly SortedSet<Share> _sharesBySize = new(Share.BySize);
    // Committed entries by expiry, for the purge; an item whose entry went earlier (evicted) is skipped and, once they
    // outnumber the entries, the queue is rebuilt so that they do not pile up under a flood.
    private readonly PriorityQueue<Item, DateTimeOffset> _expiries = new();
    private long _nextSeq;
    private long _nextShareId;

    public ReplayGuard(int capacity) : this(capacity, capacity, capacity)
    {
    }

    private readonly record struct Entry(DateTimeOffset Expires, Share? Share, long Seq, bool Committed);

    private readonly record struct Item((PeerId Source, UInt128 Id) Key, long Seq);

    /// <summary>The entries charged to one address block; its committed ones by expiry, the first to go when the block
    /// is the largest and another needs room.</summary>
    private sealed class Share(AddressBlock block, long id)
    {
        public static readonly IComparer<Share> BySize = Comparer<Share>.Create((a, b) =>
            a.Count != b.Count ? a.Count.CompareTo(b.Count) : a.Id.CompareTo(b.Id));

        public AddressBlock Block { get; } = block;
        public long Id { get; } = id;
        public int Count { get; set; }
        public PriorityQueue<Item, DateTimeOffset> Committed { get; } = new();
    }

    public int Count
    {
        get { lock (_gate) return _seen.Count; }
    }

    /// <summary>Entries taken out early (before their message expired) to make room for another block's.</summary>
    public long Evicted { get; private set; }

    /// <summary>Whether the pair was accepted before (without recording it).</summary>
    public bool Contains(PeerId source, NeuralMessageId id, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _seen.TryGetValue((source, id.Value), out var entry) && entry.Expires > now;
        }
    }

    /// <summary>Reserves the pair, charged to <paramref name="source"/> and to <paramref name="from"/> (the address block
    /// of the connection it came over; null for messages of this node, which no block share limits and nothing pushes
    /// out). Returns <see cref="DropReason.Replay"/> if already there, <see cref="DropReason.ReplayCacheFull"/> when no
    /// room is left (for this source, for this block, or in all with no larger block to take it from); null when
    /// reserved. A reservation counts like an entry and must end in <see cref="Commit"/> (the message was routed) or
    /// <see cref="Release"/> (it was not).</summary>
    public DropReason? TryReserve(PeerId source, NeuralMessageId id, AddressBlock? from, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            Purge(now);
            if (_seen.ContainsKey(key)) return DropReason.Replay;
            int bySource = _perSource.GetValueOrDefault(source);
            if (bySource >= perSourceCapacity) return DropReason.ReplayCacheFull;
            Share? share = null;
            if (from is { } block && _shares.TryGetValue(block, out share) && share.Count >= perBlockCapacity)
                return DropReason.ReplayCacheFull;
            if (_seen.Count >= capacity && !TryEvictFor(share?.Count ?? 0)) return DropReason.ReplayCacheFull;
            if (from is { } added && share is null) _shares[added] = share = new Share(added, _nextShareId++);
            _seen[key] = new Entry(expiresAt, share, _nextSeq++, Committed: false);
            _perSource[source] = bySource + 1;
            if (share is not null) Resize(share, +1);
            return null;
        }
    }

    /// <summary>Keeps a reserved pair until its message expires.</summary>
    public void Commit(PeerId source, NeuralMessageId id)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            if (!_seen.TryGetValue(key, out var entry) || entry.Committed) return;
            _seen[key] = entry with { Committed = true };
            var item = new Item(key, entry.Seq);
            _expiries.Enqueue(item, entry.Expires);
            entry.Share?.Committed.Enqueue(item, entry.Expires);
        }
    }

    /// <summary>Forgets a reserved pair whose message was not routed.</summary>
    public void Release(PeerId source, NeuralMessageId id)
    {
        lock (_gate)
        {
            if (_seen.TryGetValue((source, id.Value), out var entry) && !entry.Committed) Remove((source, id.Value));
        }
    }

    /// <summary><see cref="TryReserve"/> and <see cref="Commit"/> at once, for messages already taken.</summary>
    public DropReason? TryAccept(PeerId source, NeuralMessageId id, AddressBlock? from, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        var refused = TryReserve(source, id, from, expiresAt, now);
        if (refused is null) Commit(source, id);
        return refused;
    }

    /// <summary>Makes room for an entry of a block holding <paramref name="held"/> (0 for this node's own messages): the
    /// committed entry of the largest block that expires first goes, if that block holds at least two more (so it is
    /// still no smaller afterwards and two blocks never take turns pushing each other out).</summary>
    private bool TryEvictFor(int held)
    {
        if (_sharesBySize.Count == 0) return false;
        var largest = _sharesBySize.Max!;
        if (held + 1 >= largest.Count) return false;
        while (largest.Committed.TryDequeue(out var item, out _))
        {
            if (!_seen.TryGetValue(item.Key, out var entry) || entry.Seq != item.Seq) continue;
            Remove(item.Key);
            Evicted++;
            if (_expiries.Count > 2 * _seen.Count + 16) RebuildExpiries();
            return true;
        }
        return false; // only reservations in flight: nothing that may go
    }

    private void Purge(DateTimeOffset now)
    {
        while (_expiries.TryPeek(out var item, out var expires) && expires <= now)
        {
            _expiries.Dequeue();
            if (!_seen.TryGetValue(item.Key, out var entry) || entry.Seq != item.Seq) continue;
            Remove(item.Key);
            // The share's queue has the same entries in the same order: drop what expired from its head too.
            if (entry.Share is { } share)
                while (share.Committed.TryPeek(out _, out var first) && first <= now) share.Committed.Dequeue();
        }
    }

    private void RebuildExpiries()
    {
        _expiries.Clear();
        foreach (var (key, entry) in _seen)
            if (entry.Committed) _expiries.Enqueue(new Item(key, entry.Seq), entry.Expires);
    }

    private void Remove((PeerId Source, UInt128 Id) key)
    {
        if (!_seen.Remove(key, out var entry)) return;
        int left = _perSource[key.Source] - 1;
        if (left == 0) _perSource.Remove(key.Source);
        else _perSource[key.Source] = left;
        if (entry.Share is not { } share) return;
        Resize(share, -1);
        if (share.Count == 0) _shares.Remove(share.Block);
    }

    private void Resize(Share share, int by)
    {
        _sharesBySize.Remove(share);
        share.Count += by;
        if (share.Count > 0) _sharesBySize.Add(share);
    }
}
