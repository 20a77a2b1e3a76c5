namespace P2PStack.Protocols.Kademlia.Storage;

/// <summary>Records in a dictionary, with the limits of <see cref="RecordStoreLimits"/>. Thread-safe.</summary>
public sealed class InMemoryRecordStore(RecordStoreLimits limits) : IDhtRecordStore
{
    private readonly object _lock = new();
    private readonly Dictionary<byte[], DhtRecord> _records = new(ByteKeyComparer.Instance);
    private long _totalBytes;

    public InMemoryRecordStore() : this(new RecordStoreLimits()) { }

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
        long size = record.Key.Length + record.Value.Length;
        lock (_lock)
        {
            long replaced = _records.TryGetValue(record.Key, out var old) ? old.Key.Length + old.Value.Length : -1;
            if (replaced < 0 && _records.Count >= limits.MaxRecords)
                throw new DhtStoreLimitException($"record store is full ({limits.MaxRecords} records)");
            long newTotal = _totalBytes - Math.Max(replaced, 0) + size;
            if (newTotal > limits.MaxTotalBytes)
                throw new DhtStoreLimitException($"record store is full ({_totalBytes} of {limits.MaxTotalBytes} bytes used)");
            _records[record.Key] = record;
            _totalBytes = newTotal;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> RemoveAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_records.Remove(key.ToArray(), out var old)) return ValueTask.FromResult(false);
            _totalBytes -= old.Key.Length + old.Value.Length;
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
                _totalBytes -= record.Key.Length + record.Value.Length;
            }
            return ValueTask.FromResult(expired.Count);
        }
    }

    public ValueTask<int> CountAsync(CancellationToken cancellationToken)
    {
        lock (_lock) return ValueTask.FromResult(_records.Count);
    }

    /// <summary>Checks the per-record limits every store applies.</summary>
    public static void CheckSize(DhtRecord record, RecordStoreLimits limits)
    {
        if (record.Key.Length == 0) throw new DhtStoreLimitException("record key is empty");
        if (record.Key.Length > limits.MaxKeyLength)
            throw new DhtStoreLimitException($"record key is {record.Key.Length} bytes, over the limit of {limits.MaxKeyLength}");
        if (record.Value.Length > limits.MaxValueLength)
            throw new DhtStoreLimitException($"record value is {record.Value.Length} bytes, over the limit of {limits.MaxValueLength}");
    }
}
