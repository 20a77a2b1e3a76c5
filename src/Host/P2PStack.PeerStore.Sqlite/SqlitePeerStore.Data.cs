using Microsoft.Data.Sqlite;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;

namespace P2PStack.PeerStore.Sqlite;

/// <summary>Latency statistics, signed peer records, and the SQL helpers.</summary>
public sealed partial class SqlitePeerStore
{
    public void RecordLatency(PeerId peer, TimeSpan rtt)
    {
        ArgumentNullException.ThrowIfNull(peer);
        long at = _time.GetUtcNow().UtcTicks; // the time of the call, not of the commit
        Defer(transaction =>
        {
            if (!EnsurePeer(peer, transaction, at)) return;
            var old = ReadLatency(peer, transaction);
            double weight = _options.LatencySmoothing;
            var updated = old is null
                ? new LatencyStats(rtt, rtt, rtt, rtt, 1)
                : new LatencyStats(rtt, rtt < old.Min ? rtt : old.Min, rtt > old.Max ? rtt : old.Max,
                    TimeSpan.FromTicks((long)(old.Average.Ticks * (1 - weight) + rtt.Ticks * weight)), old.Samples + 1);
            Execute("""
                UPDATE peers SET latency_current = $current, latency_min = $min, latency_max = $max,
                    latency_average = $average, latency_samples = $samples WHERE peer_id = $peer;
                """, transaction, ("$peer", Key(peer)), ("$current", updated.Current.Ticks), ("$min", updated.Min.Ticks),
                ("$max", updated.Max.Ticks), ("$average", updated.Average.Ticks), ("$samples", updated.Samples));
        });
    }

    public LatencyStats? GetLatency(PeerId peer)
    {
        lock (_gate)
        {
            FlushLocked();
            return ReadLatency(peer, null);
        }
    }

    public bool ConsumePeerRecord(SignedEnvelope envelope, PeerRecord record, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(record);
        if (!envelope.Signer.Equals(record.PeerId))
            throw new ArgumentException("the envelope was not signed by the record's peer", nameof(envelope));
        byte[] encoded = envelope.ToBytes();
        if (encoded.Length > _options.MaxPeerRecordSize)
            throw new ArgumentException($"the peer record envelope is {encoded.Length} bytes, more than the {_options.MaxPeerRecordSize} kept", nameof(envelope));
        var peer = record.PeerId;
        long at = _time.GetUtcNow().UtcTicks; // the time of the call, not of the commit
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // Only while no queued write can delete peers (the cap, the sweep) before this one's turn: the peer and
            // its record are then still there when it comes.
            bool nothingDeletedBefore = _peerCount + _pending.Count <= _options.MaxPeers
                && at - _lastSweepTicks < PeerStoreDefaults.SweepInterval.Ticks;
            if (nothingDeletedBefore && _recordSeqs.TryGetValue(peer, out ulong known) && known >= record.Seq)
            {
                // Identify brings the same record on every connection: nothing changes but the peer's "last written",
                // which waits with the other writes instead of committing now.
                Defer(transaction => EnsurePeer(peer, transaction, at));
                return false;
            }
        }
        bool stored = false;
        InTransaction(transaction =>
        {
            stored = false; // set again if this runs a second time (see InTransaction)
            if (!EnsurePeer(peer, transaction, at)) return;
            var command = Command("SELECT record_seq FROM peers WHERE peer_id = $peer;", ("$peer", Key(peer)));
            command.Transaction = transaction;
            // Sequence numbers are unsigned 64-bit; SQLite integers are signed, so they round-trip bit for bit.
            if (command.ExecuteScalar() is long raw && unchecked((ulong)raw) >= record.Seq)
            {
                KnowRecord(peer, unchecked((ulong)raw));
                return;
            }
            Execute("UPDATE peers SET record_seq = $seq, record = $record WHERE peer_id = $peer;", transaction,
                ("$peer", Key(peer)), ("$seq", unchecked((long)record.Seq)), ("$record", encoded));
            Execute("DELETE FROM addresses WHERE peer_id = $peer;", transaction, ("$peer", Key(peer)));
            InsertAddresses(peer, [.. record.Addresses], ExpiryTicks(ttl, at), transaction);
            KnowRecord(peer, record.Seq);
            stored = true;
        });
        return stored;
    }

    /// <summary>Remembers the sequence number of the record stored for a peer (bounded: forgotten all at once when
    /// full), so a record that is not newer is refused without a transaction. Forgotten whenever peers are deleted.</summary>
    private void KnowRecord(PeerId peer, ulong seq)
    {
        if (_recordSeqs.Count >= MaxKnownRecordSeqs && !_recordSeqs.ContainsKey(peer)) _recordSeqs.Clear();
        _recordSeqs[peer] = seq;
    }

    public SignedEnvelope? GetPeerRecord(PeerId peer)
    {
        byte[]? encoded;
        lock (_gate)
        {
            FlushLocked();
            var command = Command("SELECT record FROM peers WHERE peer_id = $peer;", ("$peer", Key(peer)));
            encoded = command.ExecuteScalar() as byte[];
        }
        // Re-verified on the way out: the database file is outside input.
        return encoded is null ? null : SignedEnvelope.Open(encoded, PeerRecord.Domain, _options.MaxPeerRecordSize);
    }

    private LatencyStats? ReadLatency(PeerId peer, SqliteTransaction? transaction)
    {
        var command = Command("""
            SELECT latency_current, latency_min, latency_max, latency_average, latency_samples
            FROM peers WHERE peer_id = $peer AND latency_samples IS NOT NULL;
            """, ("$peer", Key(peer)));
        command.Transaction = transaction;
        using var reader = command.ExecuteReader();
        if (!reader.Read()) return null;
        return new LatencyStats(TimeSpan.FromTicks(reader.GetInt64(0)), TimeSpan.FromTicks(reader.GetInt64(1)),
            TimeSpan.FromTicks(reader.GetInt64(2)), TimeSpan.FromTicks(reader.GetInt64(3)), reader.GetInt64(4));
    }

    /// <summary>Creates the peer's row if needed and marks it written at <paramref name="at"/> (when the write was made,
    /// which may be before it is committed). False when a new peer's memory was refused even after forgetting the
    /// least recently written tenth: then nothing is kept about it.</summary>
    private bool EnsurePeer(PeerId peer, SqliteTransaction transaction, long at)
    {
        // Strictly increasing, so the cap's "least recently written" is well defined even on a coarse or frozen clock.
        _writeTicks = Math.Max(at, _writeTicks + 1);
        if (Execute("INSERT OR IGNORE INTO peers (peer_id, written) VALUES ($peer, $now);", transaction,
                ("$peer", Key(peer)), ("$now", _writeTicks)) > 0)
        {
            if (!ReserveNewPeer(peer, transaction))
            {
                Execute("DELETE FROM peers WHERE peer_id = $peer;", transaction, ("$peer", Key(peer)));
                return false;
            }
            _peerCount++;
        }
        else
        {
            Execute("UPDATE peers SET written = $now WHERE peer_id = $peer;", transaction, ("$peer", Key(peer)), ("$now", _writeTicks));
        }
        return true;
    }

    /// <summary>Reserves a new peer's entry; when refused, forgets the least recently written tenth (never
    /// <paramref name="peer"/>) and tries once more, as the in-memory store does.</summary>
    private bool ReserveNewPeer(PeerId peer, SqliteTransaction transaction)
    {
        if (_memory is null) return true;
        if (!_memory.TryReserveMemory(EntryBytes))
        {
            _recordSeqs.Clear(); // peers go with their records
            _peerCount -= Execute("DELETE FROM peers WHERE peer_id IN (SELECT peer_id FROM peers WHERE peer_id != $peer ORDER BY written LIMIT $n);",
                transaction, ("$peer", Key(peer)), ("$n", Math.Max(1, _peerCount / 10)));
            ReleaseSurplus();
            if (!_memory.TryReserveMemory(EntryBytes)) return false;
        }
        _reservedPeers++;
        return true;
    }

    /// <summary>Returns the entries of peers no longer held.</summary>
    private void ReleaseSurplus()
    {
        if (_memory is null || _reservedPeers <= _peerCount) return;
        _memory.ReleaseMemory((_reservedPeers - _peerCount) * EntryBytes);
        _reservedPeers = _peerCount;
    }

    /// <summary>At open: reserves the peers the file holds; those the scope has no room for, the least recently
    /// written, are forgotten.</summary>
    private void ReserveHeld()
    {
        if (_memory is null) return;
        while (_reservedPeers < _peerCount && _memory.TryReserveMemory(EntryBytes)) _reservedPeers++;
        if (_reservedPeers == _peerCount) return;
        using var transaction = _connection.BeginTransaction();
        Execute("DELETE FROM peers WHERE peer_id IN (SELECT peer_id FROM peers ORDER BY written LIMIT $n);", transaction,
            ("$n", _peerCount - _reservedPeers));
        transaction.Commit();
        _peerCount = CountPeers(null);
        ReleaseSurplus();
    }

    /// <summary>After a write made at <paramref name="now"/>: over the cap, forgets the least recently written tenth; and at most every
    /// <see cref="PeerStoreDefaults.SweepInterval"/>, drops expired addresses and the peers left without any that were
    /// not written for <see cref="SqlitePeerStoreOptions.PeerRetention"/>.</summary>
    private void Maintain(SqliteTransaction transaction, long now)
    {
        if (now - _lastSweepTicks >= PeerStoreDefaults.SweepInterval.Ticks)
        {
            _lastSweepTicks = now;
            Execute("DELETE FROM addresses WHERE expires <= $now;", transaction, ("$now", now));
            Execute("""
                DELETE FROM peers WHERE written <= $cutoff
                    AND NOT EXISTS (SELECT 1 FROM addresses WHERE addresses.peer_id = peers.peer_id);
                """, transaction, ("$cutoff", now - _options.PeerRetention.Ticks));
            _peerCount = CountPeers(transaction);
            _recordSeqs.Clear(); // peers may be gone with their records
        }
        if (_peerCount > _options.MaxPeers)
        {
            long excess = _peerCount - _options.MaxPeers + Math.Max(1, _options.MaxPeers / 10);
            _recordSeqs.Clear();
            _peerCount -= Execute("DELETE FROM peers WHERE peer_id IN (SELECT peer_id FROM peers ORDER BY written LIMIT $n);",
                transaction, ("$n", excess));
        }
    }

    private long CountPeers(SqliteTransaction? transaction)
    {
        var command = Command("SELECT count(*) FROM peers;");
        command.Transaction = transaction;
        return (long)command.ExecuteScalar()!;
    }

    private static byte[] Key(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return peer.ToBytes();
    }

    /// <summary>The command for <paramref name="sql"/> with these parameters, no transaction. Commands are kept per SQL
    /// text (a fixed set) with their prepared statements, so a statement is parsed and planned once, not on every
    /// call; every use is under <see cref="_gate"/>, and the store disposes them. Callers do not dispose it.</summary>
    private SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_statements.TryGetValue(sql, out var command))
        {
            command = _connection.CreateCommand();
            command.CommandText = sql;
            _statements.Add(sql, command);
        }
        command.Transaction = null;
        command.Parameters.Clear();
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    private int Execute(string sql, SqliteTransaction? transaction, params (string Name, object Value)[] parameters)
    {
        var command = Command(sql, parameters);
        command.Transaction = transaction;
        return command.ExecuteNonQuery();
    }
}
