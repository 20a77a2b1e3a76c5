namespace P2PStack.Neural;

/// <summary>
/// A token bucket per <see cref="AddressBlock"/>: how fast the messages arriving from one block may take replay-cache
/// entries. This rate, summed over the blocks an attacker holds, is what bounds how far the replay cache's watermark can
/// be pushed (docs/specs/neural.md, step 9). At most <c>maxBlocks</c> buckets are kept: when a new block comes and the
/// table is full, the buckets that have refilled are dropped (a full bucket is the state of a block never seen), and if
/// none has, the one used longest ago. Not thread-safe: the replay guard calls it under its lock.
/// </summary>
internal sealed class BlockRateLimiter(double perSecond, int burst, int maxBlocks)
{
    private readonly Dictionary<AddressBlock, Bucket> _buckets = [];

    private sealed class Bucket
    {
        public double Tokens;
        public DateTimeOffset Updated;
        public DateTimeOffset LastUsed;
    }

    public int Count => _buckets.Count;

    /// <summary>Takes one token of <paramref name="block"/>'s bucket; false when it is empty.</summary>
    public bool TryTake(AddressBlock block, DateTimeOffset now)
    {
        if (!_buckets.TryGetValue(block, out var bucket))
        {
            if (_buckets.Count >= maxBlocks) MakeRoom(now);
            _buckets[block] = bucket = new Bucket { Tokens = burst, Updated = now };
        }
        Refill(bucket, now);
        bucket.LastUsed = now;
        if (bucket.Tokens < 1) return false;
        bucket.Tokens -= 1;
        return true;
    }

    private void Refill(Bucket bucket, DateTimeOffset now)
    {
        double elapsed = (now - bucket.Updated).TotalSeconds;
        if (elapsed > 0) bucket.Tokens = Math.Min(burst, bucket.Tokens + elapsed * perSecond);
        if (now > bucket.Updated) bucket.Updated = now;
    }

    private void MakeRoom(DateTimeOffset now)
    {
        AddressBlock? oldest = null;
        var oldestUse = DateTimeOffset.MaxValue;
        List<AddressBlock>? refilled = null;
        foreach (var (block, bucket) in _buckets)
        {
            Refill(bucket, now);
            if (bucket.Tokens >= burst) (refilled ??= []).Add(block);
            else if (bucket.LastUsed < oldestUse) (oldest, oldestUse) = (block, bucket.LastUsed);
        }
        if (refilled is not null) foreach (var block in refilled) _buckets.Remove(block);
        else if (oldest is { } lru) _buckets.Remove(lru);
    }
}
