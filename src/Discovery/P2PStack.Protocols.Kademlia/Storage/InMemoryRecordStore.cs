using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Protocols.Kademlia.Storage;

/// <summary>Records in a dictionary, with the limits of <see cref="RecordStoreLimits"/>. Thread-safe. With a
/// <paramref name="memory"/> scope (the resource manager's <c>service kademlia</c>), each record's bytes are reserved
/// there while it is held and returned when it is replaced, removed, expires or is evicted.</summary>
public sealed class InMemoryRecordStore(RecordStoreLimits limits, IResourceScope? memory = null) : IDhtRecordStore
{
    /// <summary>What a held record costs beyond its key and value (dictionary entry, record object, array headers),
    /// counted in its reservation.</summary>
    public const int EntryOverhead = 128;

    private readonly object _lock = new();
    private readonly Dictionary<byte[], DhtRecord> _records = new(ByteKeyComparer.Instance);
    private readonly Dictionary<PeerId, int> _perPublisher = [];
    private long _totalBytes;

    public InMemoryRecordStore() : this(new RecordStoreLimits()) { }

    /// <summary>Bytes reserved for one held record.</summary>
    public static long Footprint(DhtRecord record) => SizeOf(record) + EntryOverhead;

    public long TotalBytes
    {
        get { lock (_lock) return _totalBytes; }
    }

    public ValueTask<DhtRecord?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        lock (_lock) return ValueTask.FromResult(_records.GetValueOrDefault(key.ToArray()));
    }

    public ValueTask PutAsync(DhtRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        CheckSize(record, limits);
        long size = SizeOf(record);
        lock (_lock)
        {
            _records.TryGetValue(record.Key, out var old);
            if (record.Publisher is { } publisher && old?.Publisher != publisher)
                CheckPublisherQuota(publisher, _perPublisher.GetValueOrDefault(publisher), limits);
            while (true)
            {
                long replaced = old is null ? 0 : SizeOf(old);
                bool countFits = old is not null || _records.Count < limits.MaxRecords;
                bool bytesFit = _totalBytes - replaced + size <= limits.MaxTotalBytes;
                if (countFits && bytesFit) break;
                // Our own records displace other peers' ones; theirs are refused.
                if (record.Publisher is null && EvictOneRemote(record.Key)) continue;
                throw countFits
                    ? new DhtStoreLimitException($"record store is full ({_totalBytes} of {limits.MaxTotalBytes} bytes used)")
                    : new DhtStoreLimitException($"record store is full ({limits.MaxRecords} records)");
            }
            // The resource manager has the last word on memory; our own records may make room from others' first.
            // A replacement reserves only what it adds.
            long added = Footprint(record) - (old is null ? 0 : Footprint(old));
            while (memory is not null && added > 0)
            {
                try
                {
                    memory.ReserveMemory(added); // refused: the typed error naming the scope
                    break;
                }
                catch (ResourceLimitExceededException) when (record.Publisher is null && EvictOneRemote(record.Key))
                {
                }
            }
            if (old is not null) Forget(old, releaseMemory: false);
            if (added < 0) memory?.ReleaseMemory(-added);
            _records[record.Key] = record;
            _totalBytes += size;
            if (record.Publisher is { } p) _perPublisher[p] = _perPublisher.GetValueOrDefault(p) + 1;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> RemoveAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_records.Remove(key.ToArray(), out var old)) return ValueTask.FromResult(false);
            Forget(old);
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var expired = _records.Values.Where(r => r.TimeReceived < receivedBefore).ToList();
            foreach (var record in expired)
            {
                _records.Remove(record.Key);
                Forget(record);
            }
            return ValueTask.FromResult(expired.Count);
        }
    }

    public ValueTask<int> CountAsync(CancellationToken cancellationToken)
    {
        lock (_lock) return ValueTask.FromResult(_records.Count);
    }

    /// <summary>Removes the oldest record of the remote peer holding the most (never <paramref name="keep"/>).</summary>
    private bool EvictOneRemote(byte[] keep)
    {
        if (_perPublisher.Count == 0) return false;
        var top = _perPublisher.MaxBy(kv => kv.Value).Key;
        var victim = _records.Values
            .Where(r => r.Publisher == top && !ByteKeyComparer.Instance.Equals(r.Key, keep))
            .MinBy(r => r.TimeReceived);
        if (victim is null) return false;
        _records.Remove(victim.Key);
        Forget(victim);
        return true;
    }

    /// <summary>Takes a record that left the dictionary off the totals.</summary>
    private void Forget(DhtRecord record, bool releaseMemory = true)
    {
        _totalBytes -= SizeOf(record);
        if (releaseMemory) memory?.ReleaseMemory(Footprint(record));
        if (record.Publisher is not { } publisher) return;
        int left = _perPublisher[publisher] - 1;
        if (left == 0) _perPublisher.Remove(publisher);
        else _perPublisher[publisher] = left;
    }

    private static long SizeOf(DhtRecord record) => record.Key.Length + record.Value.Length;

    /// <summary>Checks the per-record limits every store applies.</summary>
    public static void CheckSize(DhtRecord record, RecordStoreLimits limits)
    {
        if (record.Key.Length == 0) throw new DhtStoreLimitException("record key is empty");
        if (record.Key.Length > limits.MaxKeyLength)
            throw new DhtStoreLimitException($"record key is {record.Key.Length} bytes, over the limit of {limits.MaxKeyLength}");
        if (record.Value.Length > limits.MaxValueLength)
            throw new DhtStoreLimitException($"record value is {record.Value.Length} bytes, over the limit of {limits.MaxValueLength}");
    }

    /// <summary>Refuses one more record from a peer that already stored its quota.</summary>
    public static void CheckPublisherQuota(PeerId publisher, long held, RecordStoreLimits limits)
    {
        if (held >= limits.MaxRecordsPerPeer)
            throw new DhtStoreLimitException($"peer {publisher} already stored {held} records, the limit per peer");
    }
}
