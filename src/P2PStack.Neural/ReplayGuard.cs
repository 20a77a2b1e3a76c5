using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>
/// Remembers accepted (source peer, message id) pairs until their message expires: a message is accepted at most
/// once, and after expiry the TTL check refuses it anyway, so memory stays bounded by the traffic of one TTL window.
/// </summary>
internal sealed class ReplayGuard(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(PeerId Source, UInt128 Id), DateTimeOffset> _seen = [];
    private readonly PriorityQueue<(PeerId Source, UInt128 Id), DateTimeOffset> _expiries = new();

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
    /// <see cref="DropReason.ReplayCacheFull"/> when no room is left; null when accepted.</summary>
    public DropReason? TryAccept(PeerId source, NeuralMessageId id, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            Purge(now);
            if (_seen.ContainsKey(key)) return DropReason.Replay;
            if (_seen.Count >= capacity) return DropReason.ReplayCacheFull;
            _seen[key] = expiresAt;
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
        }
    }
}
