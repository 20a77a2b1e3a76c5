using System.Net;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia;

/// <summary>What <see cref="RoutingTable.TryAddAsync"/> did with a peer.</summary>
public enum RoutingTableAddResult
{
    /// <summary>The peer is now in the table.</summary>
    Added,
    /// <summary>The peer was already there; it is marked as seen now.</summary>
    Updated,
    /// <summary>The peer's bucket is full of live peers.</summary>
    BucketFull,
    /// <summary>The diversity filter refused the peer (too many peers of one IP group).</summary>
    RejectedByDiversityFilter,
    /// <summary>The local peer is never added.</summary>
    Self,
}

/// <summary>One peer of the routing table.</summary>
public sealed record RoutingTableEntry(PeerId Peer, KadKey Key, DateTimeOffset AddedAt)
{
    /// <summary>Last time the peer answered or talked to us (least recently seen peers are eviction candidates).</summary>
    public DateTimeOffset LastSeen { get; internal set; } = AddedAt;
}

/// <summary>
/// The Kademlia k-bucket routing table as go-libp2p-kbucket lays it out: buckets indexed by common prefix length with
/// the local key, unfolded lazily — the last bucket holds every peer with a longer common prefix and splits when it
/// overflows; empty trailing buckets fold back. A full bucket evicts its least recently seen peer only when the
/// liveness check says that peer is gone (the Kademlia paper's policy: old live peers are preferred). Thread-safe.
/// </summary>
public sealed class RoutingTable
{
    private const int MaxBuckets = 256;

    private readonly object _lock = new();
    private readonly List<List<RoutingTableEntry>> _buckets = [[]];
    private readonly HashSet<PeerId> _checking = [];
    private readonly PeerDiversityFilter? _diversity;
    private readonly Func<PeerId, CancellationToken, Task<bool>>? _livenessCheck;
    private readonly TimeProvider _time;

    /// <param name="local">The local peer (never added).</param>
    /// <param name="bucketSize">k, the bucket capacity.</param>
    /// <param name="livenessCheck">
    /// Asks whether a peer still answers (e.g. a FIND_NODE). Without it, a full bucket simply refuses new peers.
    /// </param>
    /// <param name="minLivenessCheckInterval">A peer seen more recently than this counts as alive without a check.</param>
    public RoutingTable(PeerId local, int bucketSize, DiversityOptions? diversity = null,
        Func<PeerId, CancellationToken, Task<bool>>? livenessCheck = null, TimeSpan? minLivenessCheckInterval = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketSize, 1);
        Local = local;
        LocalKey = KadKey.FromPeer(local);
        BucketSize = bucketSize;
        _diversity = diversity is { Enabled: true } ? new PeerDiversityFilter(diversity) : null;
        _livenessCheck = livenessCheck;
        MinLivenessCheckInterval = minLivenessCheckInterval ?? TimeSpan.FromMinutes(1);
        _time = time ?? TimeProvider.System;
    }

    public PeerId Local { get; }

    public KadKey LocalKey { get; }

    public int BucketSize { get; }

    public TimeSpan MinLivenessCheckInterval { get; }

    /// <summary>Raised (outside the lock) when a peer joins the table.</summary>
    public event Action<PeerId>? PeerAdded;

    /// <summary>Raised (outside the lock) when a peer leaves the table.</summary>
    public event Action<PeerId>? PeerRemoved;

    public int Count
    {
        get { lock (_lock) return _buckets.Sum(b => b.Count); }
    }

    /// <summary>Buckets currently unfolded (at least one).</summary>
    public int BucketCount
    {
        get { lock (_lock) return _buckets.Count; }
    }

    public bool Contains(PeerId peer)
    {
        lock (_lock) return Find(peer, out _) is not null;
    }

    /// <summary>Peers of bucket <paramref name="index"/>, least recently seen first.</summary>
    public IReadOnlyList<RoutingTableEntry> GetBucket(int index)
    {
        lock (_lock) return index < _buckets.Count ? [.. _buckets[index]] : [];
    }

    public IReadOnlyList<PeerId> GetPeers()
    {
        lock (_lock) return [.. _buckets.SelectMany(b => b.Select(e => e.Peer))];
    }

    /// <summary>Number of peers whose common prefix with us is exactly <paramref name="cpl"/>.</summary>
    public int CountWithCommonPrefix(int cpl)
    {
        lock (_lock)
            return _buckets.Sum(b => b.Count(e => e.Key.CommonPrefixLength(LocalKey) == cpl));
    }

    /// <summary>
    /// Adds a peer (or marks it seen). <paramref name="addresses"/> are the IPs the diversity filter groups it by
    /// (the remote addresses of its connections). When its bucket is full, the least recently seen peer is checked
    /// and replaced if it does not answer.
    /// </summary>
    public async Task<RoutingTableAddResult> TryAddAsync(PeerId peer, IReadOnlyCollection<IPAddress> addresses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var result = TryAdd(peer, addresses, out var evictionCandidate);
        if (result != RoutingTableAddResult.BucketFull || evictionCandidate is null || _livenessCheck is null) return result;

        bool alive;
        try { alive = await _livenessCheck(evictionCandidate, cancellationToken).ConfigureAwait(false); }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { throw; }
        catch (Exception) { alive = false; }
        finally
        {
            lock (_lock) _checking.Remove(evictionCandidate);
        }

        if (alive)
        {
            MarkSeen(evictionCandidate);
            return RoutingTableAddResult.BucketFull;
        }
        Remove(evictionCandidate);
        return TryAdd(peer, addresses, out _);
    }

    /// <summary>Synchronous add without eviction: a full bucket refuses the peer.</summary>
    public RoutingTableAddResult TryAdd(PeerId peer, IReadOnlyCollection<IPAddress> addresses) => TryAdd(peer, addresses, out _);

    private RoutingTableAddResult TryAdd(PeerId peer, IReadOnlyCollection<IPAddress> addresses, out PeerId? evictionCandidate)
    {
        evictionCandidate = null;
        if (peer == Local) return RoutingTableAddResult.Self;
        var key = KadKey.FromPeer(peer);
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var existing = Find(peer, out var bucket);
            if (existing is not null)
            {
                Touch(bucket!, existing, now);
                return RoutingTableAddResult.Updated;
            }
            int cpl = key.CommonPrefixLength(LocalKey);
            if (_diversity is not null && !_diversity.TryAdd(peer, cpl, addresses))
                return RoutingTableAddResult.RejectedByDiversityFilter;

            int index = IndexFor(key);
            if (_buckets[index].Count >= BucketSize && index == _buckets.Count - 1)
            {
                Unfold();
                index = IndexFor(key);
            }
            var target = _buckets[index];
            if (target.Count < BucketSize)
            {
                target.Add(new RoutingTableEntry(peer, key, now));
            }
            else
            {
                _diversity?.Remove(peer);
                var oldest = target[0];
                if (_livenessCheck is not null && now - oldest.LastSeen >= MinLivenessCheckInterval && _checking.Add(oldest.Peer))
                    evictionCandidate = oldest.Peer;
                return RoutingTableAddResult.BucketFull;
            }
        }
        PeerAdded?.Invoke(peer);
        return RoutingTableAddResult.Added;
    }

    /// <summary>Records that the peer answered or talked to us: it becomes the most recently seen of its bucket.</summary>
    public bool MarkSeen(PeerId peer)
    {
        lock (_lock)
        {
            var entry = Find(peer, out var bucket);
            if (entry is null) return false;
            Touch(bucket!, entry, _time.GetUtcNow());
            return true;
        }
    }

    public bool Remove(PeerId peer)
    {
        lock (_lock)
        {
            var entry = Find(peer, out var bucket);
            if (entry is null) return false;
            bucket!.Remove(entry);
            _diversity?.Remove(peer);
            Fold();
        }
        PeerRemoved?.Invoke(peer);
        return true;
    }

    /// <summary>
    /// The <paramref name="count"/> known peers closest to <paramref name="target"/>, closest first (an exact sort
    /// over the table, which holds at most a few thousand peers).
    /// </summary>
    public IReadOnlyList<PeerId> NearestPeers(KadKey target, int count)
    {
        if (count <= 0) return [];
        List<RoutingTableEntry> all;
        lock (_lock) all = [.. _buckets.SelectMany(b => b)];
        all.Sort((a, b) => target.CompareDistance(a.Key, b.Key));
        return [.. all.Take(count).Select(e => e.Peer)];
    }

    private int IndexFor(KadKey key) => Math.Min(key.CommonPrefixLength(LocalKey), _buckets.Count - 1);

    private RoutingTableEntry? Find(PeerId peer, out List<RoutingTableEntry>? bucket)
    {
        bucket = _buckets[IndexFor(KadKey.FromPeer(peer))];
        foreach (var entry in bucket)
            if (entry.Peer == peer) return entry;
        return null;
    }

    private static void Touch(List<RoutingTableEntry> bucket, RoutingTableEntry entry, DateTimeOffset now)
    {
        entry.LastSeen = now;
        bucket.Remove(entry);
        bucket.Add(entry);
    }

    // Splits the last bucket: peers sharing more than (index) bits with us move to a new last bucket; repeats while the
    // new bucket still overflows (all peers may belong further down).
    private void Unfold()
    {
        while (_buckets.Count < MaxBuckets)
        {
            int last = _buckets.Count - 1;
            var moving = _buckets[last].Where(e => e.Key.CommonPrefixLength(LocalKey) > last).ToList();
            _buckets[last].RemoveAll(moving.Contains);
            _buckets.Add(moving);
            if (moving.Count < BucketSize) return;
        }
    }

    // Folds empty buckets at the end back, as go does after removals, so the last bucket is again the catch-all.
    private void Fold()
    {
        while (_buckets.Count > 1)
        {
            int last = _buckets.Count - 1;
            if (_buckets[last].Count == 0) _buckets.RemoveAt(last);
            else if (_buckets[last - 1].Count == 0) _buckets.RemoveAt(last - 1);
            else return;
        }
    }
}
