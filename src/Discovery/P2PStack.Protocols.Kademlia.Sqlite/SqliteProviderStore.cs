using Microsoft.Data.Sqlite;
using P2PStack.Addressing;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Storage;

namespace P2PStack.Protocols.Kademlia.Sqlite;

/// <summary>
/// Provider records in SQLite, with the limits and expiry of <see cref="InMemoryProviderStore"/> (same checks, same
/// eviction of a key's youngest provider), so announcements survive restarts. Thread-safe.
/// </summary>
public sealed class SqliteProviderStore : IProviderStore
{
    private readonly KademliaSqliteDatabase _db;
    private readonly ProviderStoreLimits _limits;
    private long _keyCount;

    public SqliteProviderStore(KademliaSqliteDatabase database, ProviderStoreLimits limits)
    {
        _db = database ?? throw new ArgumentNullException(nameof(database));
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        lock (_db.Gate) _keyCount = CountKeys(null);
    }

    public ValueTask AddProviderAsync(ReadOnlyMemory<byte> key, ProviderRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        InMemoryProviderStore.CheckKey(key.Span, _limits);
        cancellationToken.ThrowIfCancellationRequested();
        record = InMemoryProviderStore.Trim(record, _limits);
        byte[] keyBytes = key.ToArray();
        byte[] provider = record.Provider.ToBytes();
        byte[] addresses = EncodeAddresses(record.Addresses);
        lock (_db.Gate)
        {
            bool newKey = _db.InTransaction(transaction =>
            {
                long providers = _db.Scalar("SELECT count(*) FROM providers WHERE key = $key;", transaction, ("$key", keyBytes));
                if (providers == 0 && _keyCount >= _limits.MaxKeys)
                    throw new DhtStoreLimitException($"provider store is full ({_limits.MaxKeys} keys)");
                bool known = _db.Scalar("SELECT count(*) FROM providers WHERE key = $key AND provider = $provider;", transaction,
                    ("$key", keyBytes), ("$provider", provider)) > 0;
                if (!known)
                {
                    InMemoryProviderStore.CheckProviderQuota(record.Provider,
                        _db.Scalar("SELECT count(*) FROM providers WHERE provider = $provider;", transaction, ("$provider", provider)), _limits);
                }
                if (!known && providers >= _limits.MaxProvidersPerKey)
                {
                    // The youngest provider goes (first announced last; ties: the one stored last), as in the
                    // in-memory store: those that kept announcing longest stay.
                    _db.Execute("""
                        DELETE FROM providers WHERE rowid = (
                            SELECT rowid FROM providers WHERE key = $key ORDER BY first_seen DESC, rowid DESC LIMIT 1);
                        """, transaction, ("$key", keyBytes));
                }
                // A refresh keeps first_seen.
                _db.Execute("""
                    INSERT INTO providers (key, provider, addresses, received, first_seen)
                    VALUES ($key, $provider, $addresses, $received, $received)
                    ON CONFLICT (key, provider) DO UPDATE SET addresses = excluded.addresses, received = excluded.received;
                    """, transaction, ("$key", keyBytes), ("$provider", provider), ("$addresses", addresses),
                    ("$received", record.ReceivedAt.UtcTicks));
                return providers == 0;
            });
            if (newKey) _keyCount++;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<ProviderRecord>> GetProvidersAsync(ReadOnlyMemory<byte> key, DateTimeOffset receivedAfter,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_db.Gate)
        {
            using var command = _db.Command("""
                SELECT provider, addresses, received FROM providers
                WHERE key = $key AND received >= $after ORDER BY received DESC, rowid;
                """, null, ("$key", key.ToArray()), ("$after", receivedAfter.UtcTicks));
            using var reader = command.ExecuteReader();
            var result = new List<ProviderRecord>();
            while (reader.Read())
            {
                result.Add(new ProviderRecord(PeerId.FromBytes((byte[])reader[0]), DecodeAddresses((byte[])reader[1]),
                    SqliteRecordStore.FromTicks(reader.GetInt64(2))));
            }
            return ValueTask.FromResult<IReadOnlyList<ProviderRecord>>(result);
        }
    }

    public ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_db.Gate)
        {
            int removed = _db.InTransaction(transaction =>
                _db.Execute("DELETE FROM providers WHERE received < $before;", transaction, ("$before", receivedBefore.UtcTicks)));
            if (removed > 0) _keyCount = CountKeys(null);
            return ValueTask.FromResult(removed);
        }
    }

    private long CountKeys(SqliteTransaction? transaction) => _db.Scalar("SELECT count(DISTINCT key) FROM providers;", transaction);

    // Addresses as one blob: each multiaddr's binary form behind a varint length.
    private static byte[] EncodeAddresses(IReadOnlyList<Multiaddr> addresses)
    {
        int size = addresses.Sum(a => Varint.SizeOf((ulong)a.Bytes.Length) + a.Bytes.Length);
        byte[] blob = new byte[size];
        int offset = 0;
        foreach (var address in addresses)
        {
            offset += Varint.Write((ulong)address.Bytes.Length, blob.AsSpan(offset));
            address.Bytes.Span.CopyTo(blob.AsSpan(offset));
            offset += address.Bytes.Length;
        }
        return blob;
    }

    private static List<Multiaddr> DecodeAddresses(ReadOnlySpan<byte> blob)
    {
        var result = new List<Multiaddr>();
        while (!blob.IsEmpty)
        {
            ulong length = Varint.Read(blob, out int read);
            if (length > (ulong)(blob.Length - read))
                throw new P2PFormatException("the DHT database holds a truncated provider address list");
            result.Add(Multiaddr.Decode(blob.Slice(read, (int)length)));
            blob = blob[(read + (int)length)..];
        }
        return result;
    }
}
