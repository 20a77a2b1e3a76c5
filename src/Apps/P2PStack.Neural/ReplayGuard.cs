using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>
/// Remembers accepted (source peer, message id) pairs until their message expires: a message is accepted at most
/// once, and after expiry the TTL check refuses it anyway, so memory stays bounded by the traffic of one TTL window.
/// One source may hold at most <paramref name="perSourceCapacity"/> entries, so a single sender flooding valid
/// messages cannot fill the cache and silence every other source until its entries expire.
/// </summary>
internal sealed class ReplayGuard(int capacity, int perSourceCapacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(PeerId Source, UInt128 Id), DateTimeOffset> _seen = [];
    private readonly Dictionary<PeerId, int> _perSource = [];
    private readonly PriorityQueue<(PeerId Source, UInt128 Id), DateTimeOffset> _expiries = new();

    public ReplayGuard(int capacity) : this(capacity, capacity)
    {
    }

    public int Count
    {
        get { lock (_gate) return _seen.Count; }
    }

    /// <summary>Whether the pair was accepted before (without recording it).</summary>
    public bool Contains(PeerId source, NeuralMessageId id, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _seen.TryGetValue((source, id.Value), out var expires) && expires > now;
        }
    }

    /// <summary>Records the pair; returns <see cref="DropReason.Replay"/> if already there, or
    /// <see cref="DropReason.ReplayCacheFull"/> when no room is left (in all, or for this source); null when accepted.</summary>
    public DropReason? TryAccept(PeerId source, NeuralMessageId id, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            Purge(now);
            if (_seen.ContainsKey(key)) return DropReason.Replay;
            if (_seen.Count >= capacity) return DropReason.ReplayCacheFull;
            int held = _perSource.GetValueOrDefault(source);
            if (held >= perSourceCapacity) return DropReason.ReplayCacheFull;
            _seen[key] = expiresAt;
            _perSource[source] = held + 1;
            _expiries.Enqueue(key, expiresAt);
            return null;
        }
    }

    private void Purge(DateTimeOffset now)
    {
        while (_expiries.TryPeek(out var key, out var expires) && expires <= now)
        {
            _expiries.Dequeue();
            _seen.Remove(key);
            int left = _perSource[key.Source] - 1;
            if (left == 0) _perSource.Remove(key.Source);
            else _perSource[key.Source] = left;
        }
    }
}
