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
        InTransaction(transaction =>
        {
            EnsurePeer(peer, transaction);
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
        lock (_gate) return ReadLatency(peer, null);
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
        bool stored = false;
        InTransaction(transaction =>
        {
            EnsurePeer(peer, transaction);
            using (var command = Command("SELECT record_seq FROM peers WHERE peer_id = $peer;", ("$peer", Key(peer))))
            {
                command.Transaction = transaction;
                // Sequence numbers are unsigned 64-bit; SQLite integers are signed, so they round-trip bit for bit.
                if (command.ExecuteScalar() is long raw && unchecked((ulong)raw) >= record.Seq) return;
            }
            Execute("UPDATE peers SET record_seq = $seq, record = $record WHERE peer_id = $peer;", transaction,
                ("$peer", Key(peer)), ("$seq", unchecked((long)record.Seq)), ("$record", encoded));
            Execute("DELETE FROM addresses WHERE peer_id = $peer;", transaction, ("$peer", Key(peer)));
            InsertAddresses(peer, [.. record.Addresses], ttl, transaction);
            stored = true;
        });
        return stored;
    }

    public SignedEnvelope? GetPeerRecord(PeerId peer)
    {
        byte[]? encoded;
        lock (_gate)
        {
            using var command = Command("SELECT record FROM peers WHERE peer_id = $peer;", ("$peer", Key(peer)));
            encoded = command.ExecuteScalar() as byte[];
        }
        // Re-verified on the way out: the database file is outside input.
        return encoded is null ? null : SignedEnvelope.Open(encoded, PeerRecord.Domain, _options.MaxPeerRecordSize);
    }

    private LatencyStats? ReadLatency(PeerId peer, SqliteTransaction? transaction)
    {
        using var command = Command("""
            SELECT latency_current, latency_min, latency_max, latency_average, latency_samples
            FROM peers WHERE peer_id = $peer AND latency_samples IS NOT NULL;
            """, ("$peer", Key(peer)));
        command.Transaction = transaction;
        using var reader = command.ExecuteReader();
        if (!reader.Read()) return null;
        return new LatencyStats(TimeSpan.FromTicks(reader.GetInt64(0)), TimeSpan.FromTicks(reader.GetInt64(1)),
            TimeSpan.FromTicks(reader.GetInt64(2)), TimeSpan.FromTicks(reader.GetInt64(3)), reader.GetInt64(4));
    }

    private void EnsurePeer(PeerId peer, SqliteTransaction transaction) =>
        Execute("INSERT OR IGNORE INTO peers (peer_id) VALUES ($peer);", transaction, ("$peer", Key(peer)));

    private static byte[] Key(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return peer.ToBytes();
    }

    private void InTransaction(Action<SqliteTransaction> action)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var transaction = _connection.BeginTransaction();
            action(transaction);
            transaction.Commit();
        }
    }

    private SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    private void Execute(string sql, SqliteTransaction? transaction, params (string Name, object Value)[] parameters)
    {
        using var command = Command(sql, parameters);
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }
}
