using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>
/// Remembers accepted (source peer, message id) pairs until their message expires: a message is accepted at most
/// once, and after expiry the TTL check refuses it anyway, so memory stays bounded by the traffic of one TTL window.
/// Signer keys cost nothing, so besides the total three shares bound who may fill it: per source (signer), and per
/// remote peer the messages arrive from (its connections). A peer signing with throwaway keys fills at most its own
/// share. Known limit: remote peer ids are free too, so a few peer identities (total / per-peer share, 4 at the
/// defaults) can still fill the whole cache; a share no free identity multiplies (per address block) is not built. Entries are reserved while a message is routed and
/// released when routing fails, so messages nobody takes hold no entry.
/// </summary>
internal sealed class ReplayGuard(int capacity, int perSourceCapacity, int perConnectionCapacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(PeerId Source, UInt128 Id), Entry> _seen = [];
    private readonly Dictionary<PeerId, int> _perSource = [];
    private readonly Dictionary<PeerId, int> _perConnection = [];
    private readonly PriorityQueue<(PeerId Source, UInt128 Id), DateTimeOffset> _expiries = new();

    public ReplayGuard(int capacity) : this(capacity, capacity, capacity)
    {
    }

    private readonly record struct Entry(DateTimeOffset Expires, PeerId? Via);

    public int Count
    {
        get { lock (_gate) return _seen.Count; }
    }

    /// <summary>Whether the pair was accepted before (without recording it).</summary>
    public bool Contains(PeerId source, NeuralMessageId id, DateTimeOffset now)
    {
        lock (_gate)
        {
            return _seen.TryGetValue((source, id.Value), out var entry) && entry.Expires > now;
        }
    }

    /// <summary>Reserves the pair, charged to <paramref name="source"/> and to <paramref name="via"/> (the remote peer
    /// it came from; null for messages of this node, which no connection share limits). Returns
    /// <see cref="DropReason.Replay"/> if already there, <see cref="DropReason.ReplayCacheFull"/> when no room is left
    /// (in all, for this source or for this connection); null when reserved. A reservation counts like an entry and
    /// must end in <see cref="Commit"/> (the message was routed) or <see cref="Release"/> (it was not).</summary>
    public DropReason? TryReserve(PeerId source, NeuralMessageId id, PeerId? via, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            Purge(now);
            if (_seen.ContainsKey(key)) return DropReason.Replay;
            if (_seen.Count >= capacity) return DropReason.ReplayCacheFull;
            int bySource = _perSource.GetValueOrDefault(source);
            if (bySource >= perSourceCapacity) return DropReason.ReplayCacheFull;
            int byConnection = via is null ? 0 : _perConnection.GetValueOrDefault(via);
            if (via is not null && byConnection >= perConnectionCapacity) return DropReason.ReplayCacheFull;
            _seen[key] = new Entry(expiresAt, via);
            _perSource[source] = bySource + 1;
            if (via is not null) _perConnection[via] = byConnection + 1;
            return null;
        }
    }

    /// <summary>Keeps a reserved pair until its message expires.</summary>
    public void Commit(PeerId source, NeuralMessageId id)
    {
        var key = (source, id.Value);
        lock (_gate)
        {
            if (_seen.TryGetValue(key, out var entry)) _expiries.Enqueue(key, entry.Expires);
        }
    }

    /// <summary>Forgets a reserved pair whose message was not routed.</summary>
    public void Release(PeerId source, NeuralMessageId id)
    {
        lock (_gate) Remove((source, id.Value));
    }

    /// <summary><see cref="TryReserve"/> and <see cref="Commit"/> at once, for messages already taken.</summary>
    public DropReason? TryAccept(PeerId source, NeuralMessageId id, PeerId? via, DateTimeOffset expiresAt, DateTimeOffset now)
    {
        var refused = TryReserve(source, id, via, expiresAt, now);
        if (refused is null) Commit(source, id);
        return refused;
    }

    private void Purge(DateTimeOffset now)
    {
        while (_expiries.TryPeek(out var key, out var expires) && expires <= now)
        {
            _expiries.Dequeue();
            if (_seen.TryGetValue(key, out var entry) && entry.Expires <= now) Remove(key);
        }
    }

    private void Remove((PeerId Source, UInt128 Id) key)
    {
        if (!_seen.Remove(key, out var entry)) return;
        Decrement(_perSource, key.Source);
        if (entry.Via is { } via) Decrement(_perConnection, via);
    }

    private static void Decrement(Dictionary<PeerId, int> counts, PeerId peer)
    {
        int left = counts[peer] - 1;
        if (left == 0) counts.Remove(peer);
        else counts[peer] = left;
    }
}
