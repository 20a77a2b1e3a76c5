using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;

namespace P2PStack.PeerStore.Sqlite;

/// <summary>
/// Peer store kept in a SQLite database (WAL mode), so what a node learned survives restarts. Behaves like the
/// in-memory store: address expiry is checked on read, records are kept only when newer, at most
/// <see cref="SqlitePeerStoreOptions.MaxPeers"/> peers (the least recently written go), and peers left without a valid
/// address are swept after <see cref="SqlitePeerStoreOptions.PeerRetention"/>. Thread-safe: one connection, one writer
/// at a time.
/// <para>Writes are deferred (<c>SqlitePeerStore.Writes.cs</c>): a write is checked and queued, and the queue is applied
/// in one transaction shortly after (<see cref="SqlitePeerStoreOptions.WriteDelay"/>), before any read, or at once when
/// <see cref="SqlitePeerStoreOptions.MaxPendingWrites"/> are waiting; so a new connection's writes (its key and address,
/// identify's key, record, protocols and agent, the first ping's latency) cost one commit, off the dial's path, and
/// every read still sees every write made before it.</para>
/// <para>With a <c>memory</c> scope (the resource manager's <c>service peerstore</c>, as for the in-memory store)
/// each peer held reserves <see cref="EntryBytes"/> there: the state remote peers make us keep is bounded by the same
/// scope whichever store holds it (here the bytes are on disk and in SQLite's page cache, reckoned as the in-memory
/// store reckons an entry). A new peer the scope refuses makes the least recently written tenth go; if still refused,
/// nothing is kept about it (callers go on; the refusal is counted in the scope). At open, the peers the file holds
/// are reserved, and those beyond the scope's room (the least recently written) forgotten.</para>
/// </summary>
public sealed partial class SqlitePeerStore : IPeerStore, IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly SqlitePeerStoreOptions _options;
    private long _peerCount;
    private long _lastSweepTicks;
    private long _writeTicks;
    private readonly IResourceScope? _memory;
    private long _reservedPeers;
    private bool _disposed;

    /// <summary>The resource manager's service scope the peer store reserves in (the in-memory store's too).</summary>
    public const string ResourceService = "peerstore";

    static SqlitePeerStore() => SQLitePCL.Batteries_V2.Init();

    public SqlitePeerStore(SqlitePeerStoreOptions options) : this(options, logger: null, memory: null) { }

    /// <param name="options">The store's options.</param>
    /// <param name="memory">The scope each peer held reserves in (none when null).</param>
    public SqlitePeerStore(SqlitePeerStoreOptions options, IResourceScope? memory) : this(options, logger: null, memory) { }

    /// <param name="options">The store's options.</param>
    /// <param name="logger">Where writes that failed in the background are reported (none when null).</param>
    /// <param name="memory">The scope each peer held reserves in (none when null).</param>
    public SqlitePeerStore(SqlitePeerStoreOptions options, ILogger<SqlitePeerStore>? logger, IResourceScope? memory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Path);
        if (options.LatencySmoothing is <= 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(options), "LatencySmoothing must be in (0, 1]");
        if (options.MaxAddressesPerPeer < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxAddressesPerPeer must be at least 1");
        if (options.MaxPeers < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxPeers must be at least 1");
        if (options.PeerRetention < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(options), "PeerRetention must not be negative");
        if (options.WriteDelay < TimeSpan.Zero || options.WriteDelay > MaxWriteDelay)
            throw new ArgumentOutOfRangeException(nameof(options), $"WriteDelay must be 0 to {MaxWriteDelay.TotalSeconds} s");
        if (options.MaxPendingWrites < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxPendingWrites must be at least 1");
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _flushTimer = new Timer(static state => ((SqlitePeerStore)state!).FlushPending(), this, Timeout.Infinite, Timeout.Infinite);
        _memory = memory;
        EntryBytes = 1024 + 96L * options.MaxAddressesPerPeer;
        _time = options.TimeProvider ?? TimeProvider.System;
        string fullPath = System.IO.Path.GetFullPath(options.Path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(fullPath)!);
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
        };
        _connection = new SqliteConnection(builder.ToString());
        try
        {
            _connection.Open();
            SqliteSchema.Apply(_connection, options.BusyTimeout);
            _peerCount = CountPeers(null);
            _lastSweepTicks = _time.GetUtcNow().UtcTicks;
            ReserveHeld();
        }
        catch
        {
            _flushTimer.Dispose();
            if (_memory is not null) _memory.ReleaseMemory(_reservedPeers * EntryBytes);
            _connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens (or creates) the database at <paramref name="path"/> with default options.</summary>
    public SqlitePeerStore(string path) : this(new SqlitePeerStoreOptions { Path = path }) { }

    /// <summary>What one peer is reckoned to hold (its addresses at the per-peer maximum, protocols, key, record, entry
    /// overhead), as the in-memory store reckons it: reserved in the memory scope for each peer held.</summary>
    public long EntryBytes { get; }

    public IReadOnlyCollection<PeerId> Peers
    {
        get
        {
            lock (_gate)
            {
                FlushLocked();
                var command = Command("SELECT peer_id FROM peers;");
                using var reader = command.ExecuteReader();
                var peers = new List<PeerId>();
                while (reader.Read()) peers.Add(PeerId.FromBytes((byte[])reader[0]));
                return peers;
            }
        }
    }

    public void AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var list = addresses.ToList();
        foreach (var address in list) ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(peer);
        long at = _time.GetUtcNow().UtcTicks; // the time of the call, not of the commit
        Defer(transaction =>
        {
            if (EnsurePeer(peer, transaction, at)) InsertAddresses(peer, list, ExpiryTicks(ttl, at), transaction);
        });
    }

    public void SetAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var list = addresses.ToList();
        foreach (var address in list) ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(peer);
        long at = _time.GetUtcNow().UtcTicks; // the time of the call, not of the commit
        Defer(transaction =>
        {
            if (!EnsurePeer(peer, transaction, at)) return;
            Execute("DELETE FROM addresses WHERE peer_id = $peer;", transaction, ("$peer", Key(peer)));
            InsertAddresses(peer, list, ExpiryTicks(ttl, at), transaction);
        });
    }

    public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer)
    {
        lock (_gate)
        {
            FlushLocked();
            long now = _time.GetUtcNow().UtcTicks;
            Execute("DELETE FROM addresses WHERE peer_id = $peer AND expires <= $now;", null, ("$peer", Key(peer)), ("$now", now));
            var command = Command("SELECT address FROM addresses WHERE peer_id = $peer ORDER BY expires DESC, rowid;",
                ("$peer", Key(peer)));
            using var reader = command.ExecuteReader();
            var result = new List<Multiaddr>();
            while (reader.Read()) result.Add(Multiaddr.Decode((byte[])reader[0]));
            return result;
        }
    }

    public void SetProtocols(PeerId peer, IEnumerable<string> protocols)
    {
        ArgumentNullException.ThrowIfNull(protocols);
        string[] list = [.. protocols.Distinct(StringComparer.Ordinal)];
        foreach (string protocol in list) ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(peer);
        long at = _time.GetUtcNow().UtcTicks; // the time of the call, not of the commit
        Defer(transaction =>
        {
            if (!EnsurePeer(peer, transaction, at)) return;
            // Identify on every new connection mostly repeats what is stored: then the rows stay as they are.
            if (ReadProtocols(peer, transaction).SequenceEqual(list, StringComparer.Ordinal)) return;
            Execute("DELETE FROM protocols WHERE peer_id = $peer;", transaction, ("$peer", Key(peer)));
            for (int i = 0; i < list.Length; i++)
            {
                Execute("INSERT INTO protocols (peer_id, protocol, position) VALUES ($peer, $protocol, $position);",
                    transaction, ("$peer", Key(peer)), ("$protocol", list[i]), ("$position", i));
            }
        });
    }

    public IReadOnlyList<string> GetProtocols(PeerId peer)
    {
        lock (_gate)
        {
            FlushLocked();
            return ReadProtocols(peer, null);
        }
    }

    private List<string> ReadProtocols(PeerId peer, SqliteTransaction? transaction)
    {
        var command = Command("SELECT protocol FROM protocols WHERE peer_id = $peer ORDER BY position;", ("$peer", Key(peer)));
        command.Transaction = transaction;
        using var reader = command.ExecuteReader();
        var result = new List<string>();
        while (reader.Read()) result.Add(reader.GetString(0));
        return result;
    }

    public void AddPublicKey(PeerId peer, PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!peer.Matches(key)) throw new ArgumentException($"the public key does not belong to peer {peer}", nameof(key));
        byte[] encoded = key.ToProtobuf();
        long at = _time.GetUtcNow().UtcTicks; // the time of the call, not of the commit
        Defer(transaction =>
        {
            if (!EnsurePeer(peer, transaction, at)) return;
            Execute("UPDATE peers SET public_key = $key WHERE peer_id = $peer;", transaction,
                ("$peer", Key(peer)), ("$key", encoded));
        });
    }

    public PublicKey? GetPublicKey(PeerId peer)
    {
        byte[]? stored;
        lock (_gate)
        {
            FlushLocked();
            var command = Command("SELECT public_key FROM peers WHERE peer_id = $peer;", ("$peer", Key(peer)));
            stored = command.ExecuteScalar() as byte[];
        }
        if (stored is null) return peer.TryGetPublicKey();
        var key = PublicKey.FromProtobuf(stored);
        // The file is outside input: a key that no longer matches the peer id is not returned.
        return peer.Matches(key) ? key : peer.TryGetPublicKey();
    }

    public void SetMetadata(PeerId peer, string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(peer);
        long at = _time.GetUtcNow().UtcTicks; // the time of the call, not of the commit
        Defer(transaction =>
        {
            if (!EnsurePeer(peer, transaction, at)) return;
            Execute("""
                INSERT INTO metadata (peer_id, key, value) VALUES ($peer, $key, $value)
                ON CONFLICT (peer_id, key) DO UPDATE SET value = excluded.value;
                """, transaction, ("$peer", Key(peer)), ("$key", key), ("$value", value));
        });
    }

    public string? GetMetadata(PeerId peer, string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_gate)
        {
            FlushLocked();
            var command = Command("SELECT value FROM metadata WHERE peer_id = $peer AND key = $key;",
                ("$peer", Key(peer)), ("$key", key));
            return command.ExecuteScalar() as string;
        }
    }

    public void RemovePeer(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate) _recordSeqs.Remove(peer);
        Defer(transaction => _peerCount -= Execute("DELETE FROM peers WHERE peer_id = $peer;", transaction, ("$peer", Key(peer))));
    }

    /// <summary>Applies the writes still waiting, then closes the database.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            FlushLocked();
            _disposed = true;
            _flushTimer.Dispose();
            _memory?.ReleaseMemory(_reservedPeers * EntryBytes);
            _reservedPeers = 0;
            foreach (var statement in _statements.Values) statement.Dispose();
            _statements.Clear();
            _connection.Dispose();
        }
    }

    private void InsertAddresses(PeerId peer, List<Multiaddr> addresses, long expires, SqliteTransaction transaction)
    {
        foreach (var address in addresses)
        {
            if (address.IsEmpty) continue;
            Execute("""
                INSERT INTO addresses (peer_id, address, expires) VALUES ($peer, $address, $expires)
                ON CONFLICT (peer_id, address) DO UPDATE SET expires = MAX(expires, excluded.expires);
                """, transaction, ("$peer", Key(peer)), ("$address", WithoutPeerSuffix(address, peer).ToBytes()), ("$expires", expires));
        }
        // Over the per-peer cap, the addresses expiring soonest go.
        Execute("""
            DELETE FROM addresses WHERE rowid IN (
                SELECT rowid FROM addresses WHERE peer_id = $peer ORDER BY expires DESC, rowid DESC LIMIT -1 OFFSET $max);
            """, transaction, ("$peer", Key(peer)), ("$max", _options.MaxAddressesPerPeer));
    }

    private static long ExpiryTicks(TimeSpan ttl, long now)
    {
        long max = DateTimeOffset.MaxValue.UtcTicks;
        if (ttl.Ticks > 0 && ttl.Ticks > max - now) return max;
        return Math.Max(now + ttl.Ticks, DateTimeOffset.MinValue.UtcTicks);
    }

    /// <summary>Drops a trailing /p2p/&lt;peer&gt; naming this same peer, so each address is stored once.</summary>
    private static Multiaddr WithoutPeerSuffix(Multiaddr address, PeerId peer)
    {
        var components = address.Components;
        for (int i = components.Count - 1; i >= 0; i--)
        {
            if (components[i].Protocol.Code != MultiaddrProtocols.P2P.Code) continue;
            return components[i].RawValue.Span.SequenceEqual(peer.Bytes.Span)
                ? address.DecapsulateCode(MultiaddrProtocols.P2P.Code)
                : address;
        }
        return address;
    }
}
