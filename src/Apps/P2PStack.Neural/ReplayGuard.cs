using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>
/// Remembers accepted (source peer, message id) pairs until their message expires, so that a message is accepted at
/// most once. Memory is bounded without ever refusing a fresh message for want of room: when the cache is full, the
/// entry of the message created earliest goes and the <see cref="Watermark"/> rises to its creation time; a message
/// created at or before the watermark is refused as <see cref="DropReason.TooOld"/> (it may be one whose entry went).
/// So a replay is refused for the message's whole TTL (by its entry, the watermark, or the expiry check), and a flood
/// from any number of identities can only push the watermark up, as fast as it can take entries: the rate per address
/// block (<see cref="BlockRateLimiter"/>) bounds that, and a message created after the watermark always gets in
/// (docs/specs/neural.md, step 9, has the bound). Each source's entries are also capped. Entries are reserved while a
/// message is routed and released when routing fails, so messages nobody takes hold no entry.
/// </summary>
internal sealed class ReplayGuard
{
    private readonly Lock _gate = new();
    private readonly int _capacity;
    private readonly int _perSourceCapacity;
    private readonly BlockRateLimiter? _rates;
    private readonly Dictionary<(PeerId Source, UInt128 Id), Entry> _seen = [];
    private readonly Dictionary<PeerId, int> _perSource = [];
    // Every entry (reserved or committed) by expiry, for the purge, and by creation, for eviction. An item whose entry
    // went another way (released, evicted, purged) is skipped; once they outnumber the entries the queues are rebuilt.
    private readonly PriorityQueue<Item, DateTimeOffset> _byExpiry = new();
    private readonly PriorityQueue<Item, DateTimeOffset> _byCreation = new();
    private long _nextSeq;
    private DateTimeOffset _watermark = DateTimeOffset.MinValue;

    /// <param name="capacity">Most entries held.</param>
    /// <param name="perSourceCapacity">Most entries one source (signer) holds; its further messages are
    /// <see cref="DropReason.ReplayCacheFull"/> until some expire.</param>
    /// <param name="rates">The rate at which each address block may take entries; null: unlimited.</param>
    public ReplayGuard(int capacity, int perSourceCapacity, BlockRateLimiter? rates)
    {
        _capacity = capacity;
        _perSourceCapacity = perSourceCapacity;
        _rates = rates;
    }

    public ReplayGuard(int capacity) : this(capacity, capacity, null)
    {
    }

    private readonly record struct Entry(DateTimeOffset Created, DateTimeOffset Expires, long Seq, bool Committed);

    private readonly record struct Item((PeerId Source, UInt128 Id) Key, long Seq);

    public int Count
    {
        get { lock (_gate) return _seen.Count; }
    }

    /// <summary>Entries taken out before their message expired, to make room (each raised the watermark).</summary>
    public long Evicted { get; private set; }

    /// <summary>Messages created at or before this are refused: an entry of one may have been evicted.</summary>
    public DateTimeOffset Watermark
    {
        get { lock (_gate) return _watermark; }
    }

    /// <summary>Whether a message would be refused as a replay or as too old to check (without recording it).</summary>
    public DropReason? Check(PeerId source, NeuralMessageId id, DateTimeOffset createdAt, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (_seen.TryGetValue((source, id.Value), out var entry) && entry.Expires > now) return DropReason.Replay;
            return createdAt <= _watermark ? DropReason.TooOld : null;
        }
    }

    /// <summary>Whether the pair was accepted before (without recording it).</summary>
    public bool Contains(PeerId source, NeuralMessageId id, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _seen.TryGetValue((source, id.Value), out var entry) && entry.Expires > now;
        }
    }

    /// <summary>Reserves the pair, charged to <paramref name="source"/> and to the rate of <paramref name="from"/> (the
    /// address block of the connection it came over; null for messages of this node, which no rate limits). Returns
    /// <see cref="DropReason.Replay"/> if already there, <see cref="DropReason.TooOld"/> if created at or before the
    /// watermark, <see cref="DropReason.ReplayCacheFull"/> when the source holds its share,
    /// <see cref="DropReason.RateLimited"/> when the block's rate is used up; null when reserved (a full cache evicts
    /// the entry created earliest, which may be this one: the watermark then covers it). A reservation must end in
    /// <see cref="Commit"/> (the message was routed) or <see cref="Release"/> (it was not).</summary>
    public DropReason? TryReserve(PeerId source, NeuralMessageId id, AddressBlock? from, DateTimeOffset createdAt, DateTimeOffset expiresAt,
        DateTimeOffset now)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            Purge(now);
            if (_seen.ContainsKey(key)) return DropReason.Replay;
            if (createdAt <= _watermark) return DropReason.TooOld;
            int bySource = _perSource.GetValueOrDefault(source);
            if (bySource >= _perSourceCapacity) return DropReason.ReplayCacheFull;
            if (from is { } block && _rates is not null && !_rates.TryTake(block, now)) return DropReason.RateLimited;
            long seq = _nextSeq++;
            _seen[key] = new Entry(createdAt, expiresAt, seq, Committed: false);
            _perSource[source] = bySource + 1;
            _byExpiry.Enqueue(new Item(key, seq), expiresAt);
            _byCreation.Enqueue(new Item(key, seq), createdAt);
            while (_seen.Count > _capacity) EvictEarliest();
            if (Math.Max(_byCreation.Count, _byExpiry.Count) > 2 * _seen.Count + 16) Rebuild();
            return null;
        }
    }

    /// <summary>Keeps a reserved pair until its message expires (or it is evicted).</summary>
    public void Commit(PeerId source, NeuralMessageId id)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            if (_seen.TryGetValue(key, out var entry)) _seen[key] = entry with { Committed = true };
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
    public DropReason? TryAccept(PeerId source, NeuralMessageId id, AddressBlock? from, DateTimeOffset createdAt, DateTimeOffset expiresAt,
        DateTimeOffset now)
    {
        var refused = TryReserve(source, id, from, createdAt, expiresAt, now);
        if (refused is null) Commit(source, id);
        return refused;
    }

    /// <summary>Gives up the entry of the message created earliest (reserved ones too: the watermark covers them as
    /// well) and raises the watermark to its creation time, so a replay of that message is refused as too old.</summary>
    private void EvictEarliest()
    {
        while (_byCreation.TryDequeue(out var item, out var created))
        {
            if (!_seen.TryGetValue(item.Key, out var entry) || entry.Seq != item.Seq) continue;
            Remove(item.Key);
            if (created > _watermark) _watermark = created;
            Evicted++;
            return;
        }
    }

    private void Purge(DateTimeOffset now)
    {
        while (_byExpiry.TryPeek(out var item, out var expires) && expires <= now)
        {
            _byExpiry.Dequeue();
            if (_seen.TryGetValue(item.Key, out var entry) && entry.Seq == item.Seq) Remove(item.Key);
        }
    }

    private void Rebuild()
    {
        _byExpiry.Clear();
        _byCreation.Clear();
        foreach (var (key, entry) in _seen)
        {
            _byExpiry.Enqueue(new Item(key, entry.Seq), entry.Expires);
            _byCreation.Enqueue(new Item(key, entry.Seq), entry.Created);
        }
    }

    private void Remove((PeerId Source, UInt128 Id) key)
    {
        if (!_seen.Remove(key)) return;
        int left = _perSource[key.Source] - 1;
        if (left == 0) _perSource.Remove(key.Source);
        else _perSource[key.Source] = left;
    }
}
