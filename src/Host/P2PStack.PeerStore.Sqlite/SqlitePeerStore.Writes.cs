using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace P2PStack.PeerStore.Sqlite;

/// <summary>
/// Deferred writes. A connection's setup used to commit seven or eight transactions on each side (the host's key and
/// address writes as the connection is added, identify's key, record, protocols, agent and protocol version, the first
/// ping's latency), several of them before the dial returned or the listener ran the connection. Now a write is checked
/// and queued; the queue is applied in order, in one transaction, by a timer <see cref="SqlitePeerStoreOptions.WriteDelay"/>
/// after the first write queued, by any read first (so every read sees every earlier write), by a write whose result
/// is needed (<see cref="ConsumePeerRecord"/> of a record newer than the one stored, in the same transaction; one that
/// is not newer is refused from memory and only touches the peer's "last written", queued), when
/// <see cref="SqlitePeerStoreOptions.MaxPendingWrites"/> are waiting (the writer applies them: back-pressure), and on
/// dispose. Reads see the writes made through the same store; a second store (or process) on the file sees them once
/// committed, so a database has one store writing to it (as the node has).
/// </summary>
public sealed partial class SqlitePeerStore
{
    /// <summary>Longest <see cref="SqlitePeerStoreOptions.WriteDelay"/> accepted: a bound on what a crash may lose.</summary>
    public static readonly TimeSpan MaxWriteDelay = TimeSpan.FromSeconds(10);

    /// <summary>Most peers whose stored record's sequence number is remembered.</summary>
    private const int MaxKnownRecordSeqs = 4096;

    private readonly ILogger _logger;
    private readonly Dictionary<P2PStack.Identity.PeerId, ulong> _recordSeqs = [];
    private readonly Timer _flushTimer;
    private List<PendingWrite> _pending = [];
    private bool _flushScheduled;

    /// <summary>Writes queued and not yet applied (for tests and diagnostics).</summary>
    public int PendingWrites
    {
        get
        {
            lock (_gate) return _pending.Count;
        }
    }

    /// <summary>Applies the queued writes now (what a read does first).</summary>
    public void Flush()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            FlushLocked();
        }
    }

    /// <summary>A write and the time it was made (the sweep and the cap run as of then, as if committed then).</summary>
    private readonly record struct PendingWrite(Action<SqliteTransaction> Apply, long At);

    private void Defer(Action<SqliteTransaction> write)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _pending.Add(new PendingWrite(write, _time.GetUtcNow().UtcTicks));
            if (_pending.Count >= _options.MaxPendingWrites)
            {
                FlushLocked();
                return;
            }
            if (_flushScheduled) return;
            _flushScheduled = true;
            _flushTimer.Change(_options.WriteDelay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The timer's commit. Nothing may escape a timer callback (it would end the process): what the per-write
    /// retry did not catch is logged, and those writes are lost, as a failed synchronous write was before.</summary>
    private void FlushPending()
    {
        try
        {
            lock (_gate)
            {
                if (_disposed) return;
                FlushLocked();
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogWriteFailed(e.Message);
        }
    }

    private List<PendingWrite> TakePendingLocked()
    {
        var writes = _pending;
        _pending = [];
        _flushScheduled = false;
        return writes;
    }

    private void FlushLocked()
    {
        if (_pending.Count == 0) return;
        var writes = TakePendingLocked();
        try
        {
            Commit(writes, null);
        }
        catch (SqliteException)
        {
            ApplyOneByOne(writes);
        }
    }

    /// <summary>A write whose result the caller needs: runs now, in one transaction after the queued writes.</summary>
    private void InTransaction(Action<SqliteTransaction> action)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var writes = TakePendingLocked();
            if (writes.Count > 0)
            {
                try
                {
                    Commit(writes, new PendingWrite(action, _time.GetUtcNow().UtcTicks));
                    return;
                }
                catch (SqliteException)
                {
                    // One of them failed: the queued writes on their own, then the caller's, which reports its error.
                    ApplyOneByOne(writes);
                }
                catch
                {
                    _recordSeqs.Clear();
                    throw;
                }
            }
            try
            {
                Commit([], new PendingWrite(action, _time.GetUtcNow().UtcTicks));
            }
            catch
            {
                _recordSeqs.Clear(); // the action may have remembered a record that was rolled back
                throw;
            }
        }
    }

    private void Commit(List<PendingWrite> writes, PendingWrite? last)
    {
        try
        {
            using var transaction = _connection.BeginTransaction();
            // The cap and the sweep after each write, as of its time, as when each had its own transaction.
            foreach (var write in writes)
            {
                write.Apply(transaction);
                Maintain(transaction, write.At);
            }
            if (last is { } action)
            {
                action.Apply(transaction);
                Maintain(transaction, action.At);
            }
            transaction.Commit();
        }
        catch
        {
            // Rolled back: the counts follow the file again (rows deleted in the transaction are back).
            _peerCount = CountPeers(null);
            while (_memory is not null && _reservedPeers < _peerCount && _memory.TryReserveMemory(EntryBytes)) _reservedPeers++;
            throw;
        }
        finally
        {
            ReleaseSurplus();
        }
    }

    /// <summary>After a batch failed (and was rolled back): each write in a transaction of its own, so one bad write
    /// (disk full, a locked file) loses only itself; failures are logged, as the writers are long gone.</summary>
    private void ApplyOneByOne(List<PendingWrite> writes)
    {
        foreach (var write in writes)
        {
            try
            {
                Commit([write], null);
            }
            catch (SqliteException e)
            {
                LogWriteFailed(e.Message);
            }
        }
        _peerCount = CountPeers(null); // writes rolled back may have counted peers they did not keep
        _recordSeqs.Clear(); // and records they did not keep
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A peer store write failed: {Reason}")]
    private partial void LogWriteFailed(string reason);
}
