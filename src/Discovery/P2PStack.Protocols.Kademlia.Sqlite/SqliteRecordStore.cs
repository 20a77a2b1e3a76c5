using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia.Storage;

namespace P2PStack.Protocols.Kademlia.Sqlite;

/// <summary>
/// DHT value records in SQLite, with the limits and expiry of <see cref="InMemoryRecordStore"/> (same checks, same
/// errors), so records survive restarts. Thread-safe. The count and byte totals are read once at open and kept in
/// memory: the node owns its database file while it runs. With a <c>memory</c> scope (the resource manager's
/// <c>service kademlia</c>, as for the in-memory stores) each record held reserves what the in-memory store reckons for
/// it (<see cref="InMemoryRecordStore.Footprint"/>: key, value and entry overhead), so the state remote peers make the
/// node keep is bounded by the same scope whichever store holds it. A record the scope refuses is refused with its
/// typed error and nothing changes (our own records first make room from remote ones); replacing, removing and expiry
/// return the bytes. At open, the records the file holds are reserved, and those beyond the scope's room forgotten
/// (remote ones first, oldest first).
/// </summary>
public sealed class SqliteRecordStore : IDhtRecordStore
{
    private readonly KademliaSqliteDatabase _db;
    private readonly RecordStoreLimits _limits;
    private readonly IResourceScope? _memory;
    private long _count;
    private long _totalBytes;
    private long _reserved;

    public SqliteRecordStore(KademliaSqliteDatabase database, RecordStoreLimits limits, IResourceScope? memory = null)
    {
        _db = database ?? throw new ArgumentNullException(nameof(database));
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        _memory = memory;
        lock (_db.Gate)
        {
            ReadTotals();
            ReserveHeld();
        }
    }

    /// <summary>Bytes reserved in the memory scope for the records held.</summary>
    public long ReservedBytes
    {
        get { lock (_db.Gate) return _reserved; }
    }

    private long Footprint(long count, long totalBytes) => totalBytes + count * InMemoryRecordStore.EntryOverhead;

    /// <summary>Key and value bytes held, as the byte limit counts them.</summary>
    public long TotalBytes
    {
        get { lock (_db.Gate) return _totalBytes; }
    }

    public ValueTask<DhtRecord?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_db.Gate)
        {
            using var command = _db.Command("SELECT value, received, publisher FROM records WHERE key = $key;", null, ("$key", key.ToArray()));
            using var reader = command.ExecuteReader();
            if (!reader.Read()) return ValueTask.FromResult<DhtRecord?>(null);
            var publisher = reader.IsDBNull(2) ? null : PeerId.FromBytes((byte[])reader[2]);
            return ValueTask.FromResult<DhtRecord?>(new DhtRecord(key.ToArray(), (byte[])reader[0], FromTicks(reader.GetInt64(1)), publisher));
        }
    }

    public ValueTask PutAsync(DhtRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        InMemoryRecordStore.CheckSize(record, _limits);
        cancellationToken.ThrowIfCancellationRequested();
        long size = record.Key.Length + record.Value.Length;
        byte[]? publisher = record.Publisher?.ToBytes();
        lock (_db.Gate)
        {
            (long, long) written;
            try
            {
                written = _db.InTransaction(transaction => Put(record, size, publisher, transaction));
            }
            catch
            {
                // Rolled back: the totals and the reservation follow the file again.
                ReadTotals();
                Reconcile();
                throw;
            }
            (_count, _totalBytes) = written;
            Reconcile();
        }
        return ValueTask.CompletedTask;
    }

    private (long Count, long Total) Put(DhtRecord record, long size, byte[]? publisher, Microsoft.Data.Sqlite.SqliteTransaction transaction)
    {
        long count = _count;
        long total = _totalBytes;
        long replaced = _db.Scalar("SELECT length(key) + length(value) FROM records WHERE key = $key;", transaction, ("$key", record.Key));
        bool exists = replaced > 0; // keys are never empty, so an existing row has a positive size
        if (publisher is not null)
        {
            bool samePublisher = exists && _db.Scalar("SELECT count(*) FROM records WHERE key = $key AND publisher = $publisher;",
                transaction, ("$key", record.Key), ("$publisher", publisher)) > 0;
            if (!samePublisher)
            {
                InMemoryRecordStore.CheckPublisherQuota(record.Publisher!,
                    _db.Scalar("SELECT count(*) FROM records WHERE publisher = $publisher;", transaction, ("$publisher", publisher)), _limits);
            }
        }
        while (true)
        {
            bool countFits = exists || count < _limits.MaxRecords;
            bool bytesFit = total - replaced + size <= _limits.MaxTotalBytes;
            if (countFits && bytesFit) break;
            // Our own records displace other peers' ones; theirs are refused.
            if (publisher is null && EvictOneRemote(record.Key, transaction) is long freed and > 0)
            {
                count--;
                total -= freed;
                continue;
            }
            throw countFits
                ? new DhtStoreLimitException($"record store is full ({total} of {_limits.MaxTotalBytes} bytes used)")
                : new DhtStoreLimitException($"record store is full ({_limits.MaxRecords} records)");
        }
        // The resource manager has the last word on memory: reserved before the write, so a refusal (its
        // typed error, naming the scope) leaves everything as it was; our own records may make room first.
        long target = Footprint(exists ? count : count + 1, total - replaced + size);
        while (_memory is not null && target > _reserved)
        {
            try
            {
                _memory.ReserveMemory(target - _reserved);
                _reserved = target;
            }
            catch (ResourceLimitExceededException) when (publisher is null && EvictOneRemote(record.Key, transaction) is long freed and > 0)
            {
                count--;
                total -= freed;
                target -= freed + InMemoryRecordStore.EntryOverhead;
            }
        }
        _db.Execute("""
            INSERT INTO records (key, value, received, publisher) VALUES ($key, $value, $received, $publisher)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, received = excluded.received, publisher = excluded.publisher;
            """, transaction, ("$key", record.Key), ("$value", record.Value), ("$received", record.TimeReceived.UtcTicks),
            ("$publisher", (object?)publisher ?? DBNull.Value));
        return (exists ? count : count + 1, total - replaced + size);
    }

    /// <summary>Makes the reservation match the records held: returns what they no longer need; reserves what they
    /// need more when the scope grants it (after a rollback the file's rows are back).</summary>
    private void Reconcile()
    {
        if (_memory is null) return;
        long target = Footprint(_count, _totalBytes);
        if (_reserved > target) _memory.ReleaseMemory(_reserved - target);
        else if (_reserved < target && !_memory.TryReserveMemory(target - _reserved)) return;
        _reserved = target;
    }

    /// <summary>At open: reserves the records the file holds; while the scope refuses, the oldest tenth goes (remote
    /// records first).</summary>
    private void ReserveHeld()
    {
        if (_memory is null) return;
        while (!_memory.TryReserveMemory(Footprint(_count, _totalBytes)))
        {
            if (_count == 0) return;
            _db.InTransaction(transaction => _db.Execute("""
                DELETE FROM records WHERE key IN (SELECT key FROM records ORDER BY publisher IS NULL, received LIMIT $n);
                """, transaction, ("$n", Math.Max(1, _count / 10))));
            ReadTotals();
        }
        _reserved = Footprint(_count, _totalBytes);
    }

    /// <summary>Deletes the oldest record of the remote peer holding the most (never <paramref name="keep"/>); returns
    /// the bytes it held, 0 when there is none.</summary>
    private long EvictOneRemote(byte[] keep, Microsoft.Data.Sqlite.SqliteTransaction transaction)
    {
        using var command = _db.Command("""
            SELECT key, length(key) + length(value) FROM records
            WHERE publisher = (SELECT publisher FROM records WHERE publisher IS NOT NULL GROUP BY publisher ORDER BY count(*) DESC LIMIT 1)
              AND key != $keep
            ORDER BY received LIMIT 1;
            """, transaction, ("$keep", keep));
        byte[] victim;
        long size;
        using (var reader = command.ExecuteReader())
        {
            if (!reader.Read()) return 0;
            victim = (byte[])reader[0];
            size = reader.GetInt64(1);
        }
        _db.Execute("DELETE FROM records WHERE key = $key;", transaction, ("$key", victim));
        return size;
    }

    public ValueTask<bool> RemoveAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_db.Gate)
        {
            long size = _db.InTransaction(transaction =>
            {
                long held = _db.Scalar("SELECT length(key) + length(value) FROM records WHERE key = $key;", transaction, ("$key", key.ToArray()));
                if (held > 0) _db.Execute("DELETE FROM records WHERE key = $key;", transaction, ("$key", key.ToArray()));
                return held;
            });
            if (size == 0) return ValueTask.FromResult(false);
            _count--;
            _totalBytes -= size;
            Reconcile();
            return ValueTask.FromResult(true);
        }
    }

    public ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_db.Gate)
        {
            int removed = _db.InTransaction(transaction =>
                _db.Execute("DELETE FROM records WHERE received < $before;", transaction, ("$before", receivedBefore.UtcTicks)));
            if (removed > 0)
            {
                ReadTotals();
                Reconcile();
            }
            return ValueTask.FromResult(removed);
        }
    }

    public ValueTask<int> CountAsync(CancellationToken cancellationToken)
    {
        lock (_db.Gate) return ValueTask.FromResult((int)_count);
    }

    private void ReadTotals()
    {
        using var command = _db.Command("SELECT count(*), coalesce(sum(length(key) + length(value)), 0) FROM records;");
        using var reader = command.ExecuteReader();
        reader.Read();
        _count = reader.GetInt64(0);
        _totalBytes = reader.GetInt64(1);
    }

    internal static DateTimeOffset FromTicks(long utcTicks) => new(utcTicks, TimeSpan.Zero);
}
