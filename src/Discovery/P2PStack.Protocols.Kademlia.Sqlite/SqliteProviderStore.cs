using Microsoft.Data.Sqlite;
using P2PStack.Addressing;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia.Storage;

namespace P2PStack.Protocols.Kademlia.Sqlite;

/// <summary>
/// Provider records in SQLite, with the limits and expiry of <see cref="InMemoryProviderStore"/> (same checks, same
/// eviction of a key's youngest provider), so announcements survive restarts. Thread-safe. With a <c>memory</c> scope
/// (the resource manager's <c>service kademlia</c>, as for the in-memory stores) each announcement held reserves its
/// stored bytes (key, provider, address list) plus <see cref="InMemoryProviderStore.EntryOverhead"/>: an announcement
/// the scope refuses is refused with its typed error and nothing changes; refreshes, eviction and expiry adjust or
/// return the bytes. At open, the announcements the file holds are reserved, and those beyond the scope's room (the
/// oldest) forgotten.
/// </summary>
public sealed class SqliteProviderStore : IProviderStore
{
    private readonly KademliaSqliteDatabase _db;
    private readonly ProviderStoreLimits _limits;
    private readonly IResourceScope? _memory;
    private long _keyCount;
    private long _bytes;
    private long _reserved;

    // What one stored announcement is reckoned to hold.
    private static readonly string FootprintSql = $"length(key) + length(provider) + length(addresses) + {InMemoryProviderStore.EntryOverhead}";

    public SqliteProviderStore(KademliaSqliteDatabase database, ProviderStoreLimits limits, IResourceScope? memory = null)
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

    /// <summary>Bytes reserved in the memory scope for the announcements held.</summary>
    public long ReservedBytes
    {
        get { lock (_db.Gate) return _reserved; }
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
        long footprint = InMemoryProviderStore.EntryOverhead + keyBytes.Length + provider.Length + addresses.Length;
        lock (_db.Gate)
        {
            bool newKey;
            long bytes = _bytes;
            try
            {
                newKey = _db.InTransaction(transaction =>
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
                    long replaced = known
                        ? _db.Scalar($"SELECT {FootprintSql} FROM providers WHERE key = $key AND provider = $provider;", transaction,
                            ("$key", keyBytes), ("$provider", provider))
                        : 0;
                    long youngest = 0;
                    if (!known && providers >= _limits.MaxProvidersPerKey)
                    {
                        youngest = _db.Scalar($"""
                            SELECT {FootprintSql} FROM providers WHERE key = $key ORDER BY first_seen DESC, rowid DESC LIMIT 1;
                            """, transaction, ("$key", keyBytes));
                    }
                    // Reserved before anything changes: a refusal (the typed error naming the scope) leaves the store as it was.
                    bytes = _bytes - replaced - youngest + footprint;
                    if (_memory is not null && bytes > _reserved)
                    {
                        _memory.ReserveMemory(bytes - _reserved);
                        _reserved = bytes;
                    }
                    if (youngest > 0)
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
            }
            catch
            {
                // Rolled back: the totals and the reservation follow the file again.
                ReadTotals();
                Reconcile();
                throw;
            }
            if (newKey) _keyCount++;
            _bytes = bytes;
            Reconcile();
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Makes the reservation match the announcements held: returns what they no longer need; reserves what
    /// they need more when the scope grants it (after a rollback the file's rows are back).</summary>
    private void Reconcile()
    {
        if (_memory is null) return;
        if (_reserved > _bytes) _memory.ReleaseMemory(_reserved - _bytes);
        else if (_reserved < _bytes && !_memory.TryReserveMemory(_bytes - _reserved)) return;
        _reserved = _bytes;
    }

    /// <summary>At open: reserves the announcements the file holds; while the scope refuses, the oldest tenth goes.</summary>
    private void ReserveHeld()
    {
        if (_memory is null) return;
        while (!_memory.TryReserveMemory(_bytes))
        {
            long count = _db.Scalar("SELECT count(*) FROM providers;");
            if (count == 0) return;
            _db.InTransaction(transaction => _db.Execute(
                "DELETE FROM providers WHERE rowid IN (SELECT rowid FROM providers ORDER BY received LIMIT $n);",
                transaction, ("$n", Math.Max(1, count / 10))));
            ReadTotals();
        }
        _reserved = _bytes;
    }

    private void ReadTotals()
    {
        _keyCount = CountKeys(null);
        _bytes = _db.Scalar($"SELECT coalesce(sum({FootprintSql}), 0) FROM providers;");
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
            if (removed > 0)
            {
                ReadTotals();
                Reconcile();
            }
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
