using P2PStack.Identity;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// A token bucket per peer (CREATE rate). The table is keyed by remote input, so it is bounded: when full, buckets that
/// have refilled (and so carry no information) are dropped first, then the least recently used. Identities are free,
/// so this limits one peer's pace; the relay's total circuit limit is what bounds the whole.
/// </summary>
internal sealed class RateLimiter(TimeProvider time, int burst, double perSecond, int maxPeers)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, Bucket> _buckets = [];

    public bool TryTake(PeerId peer)
    {
        long now = time.GetTimestamp();
        lock (_gate)
        {
            if (!_buckets.TryGetValue(peer, out var bucket))
            {
                if (_buckets.Count >= maxPeers) Evict(now);
                bucket = new Bucket { Tokens = burst, Stamp = now };
                _buckets[peer] = bucket;
            }
            Refill(bucket, now);
            bucket.LastUsed = now;
            if (bucket.Tokens < 1) return false;
            bucket.Tokens -= 1;
            return true;
        }
    }

    private void Refill(Bucket bucket, long now)
    {
        double seconds = time.GetElapsedTime(bucket.Stamp, now).TotalSeconds;
        bucket.Tokens = Math.Min(burst, bucket.Tokens + seconds * perSecond);
        bucket.Stamp = now;
    }

    private void Evict(long now)
    {
        foreach (var (peer, bucket) in _buckets.ToList())
        {
            Refill(bucket, now);
            if (bucket.Tokens >= burst) _buckets.Remove(peer);
        }
        while (_buckets.Count >= maxPeers)
            _buckets.Remove(_buckets.MinBy(p => p.Value.LastUsed).Key);
    }

    private sealed class Bucket
    {
        public double Tokens;
        public long Stamp;
        public long LastUsed;
    }
}
