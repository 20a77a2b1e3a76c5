using Microsoft.Data.Sqlite;
using P2PStack.Identity;

namespace P2PStack.Trust;

/// <summary>How a peer came to be trusted.</summary>
public enum TrustMethod
{
    /// <summary>A user said so (<c>p2p peer trust</c>, <see cref="TrustStore.Trust"/>).</summary>
    Manual,

    /// <summary>Trusted on first use: the first key seen under a name.</summary>
    Tofu,

    /// <summary>Listed in the node's configuration.</summary>
    Config,
}

public sealed record TrustedPeer(PeerId Peer, string? Name, TrustMethod Method, DateTimeOffset TrustedAt);

public sealed record RevokedPeer(PeerId Peer, string? Reason, DateTimeOffset RevokedAt);

/// <summary>Outcome of a trust-on-first-use check.</summary>
public enum TofuOutcome
{
    /// <summary>The name was new: the peer is now trusted under it.</summary>
    TrustedNow,

    /// <summary>The name already belongs to this peer.</summary>
    AlreadyTrusted,

    /// <summary>The name belongs to another peer: a different key under a known name.</summary>
    Conflict,
}

/// <summary>
/// The trust store: trusted peers with a name, when and how they were trusted, revoked peers with a reason, and which
/// peers were seen using post-quantum security (so a later classical connection is a downgrade). SQLite, so the node
/// and the command line share it. The checks every connection makes (a revocation, the post-quantum mark) are answered
/// from memory while no other connection to the database has committed since (<c>TrustStore.Memory.cs</c>); anything
/// else reads the database. Thread-safe.
/// </summary>
public sealed partial class TrustStore : IDisposable
{
    private const int SchemaVersion = 1;

    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private readonly TrustOptions _options;
    private readonly TimeProvider _time;
    private long _postQuantumPeers;

    static TrustStore() => SQLitePCL.Batteries_V2.Init();

    public TrustStore(TrustOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = time ?? TimeProvider.System;
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = options.DatabasePath ?? ":memory:",
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        };
        if (options.DatabasePath is { } path && Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory)
            Directory.CreateDirectory(directory);
        _connection = new SqliteConnection(builder.ToString());
        _connection.Open();
        ApplySchema();
        _postQuantumPeers = CountPostQuantum();
        foreach (var (peer, name) in options.TrustedPeers) Trust(peer, name, TrustMethod.Config);
    }

    /// <summary>Raised after a peer was revoked (on the revoking thread), so its connections can be closed.</summary>
    public event Action<RevokedPeer>? PeerRevoked;

    /// <summary>Trusts <paramref name="peer"/> (lifting a revocation). A name held by another peer moves to this one.</summary>
    public TrustedPeer Trust(PeerId peer, string? name = null, TrustMethod method = TrustMethod.Manual)
    {
        ArgumentNullException.ThrowIfNull(peer);
        name = CheckText(name, "name");
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            if (name is not null) Execute("UPDATE trusted SET name = NULL WHERE name = $name AND peer_id <> $peer", transaction, ("$name", name), ("$peer", peer.ToBytes()));
            Execute("""
                INSERT INTO trusted (peer_id, name, method, trusted_at) VALUES ($peer, $name, $method, $at)
                ON CONFLICT(peer_id) DO UPDATE SET name = COALESCE(excluded.name, trusted.name), method = excluded.method, trusted_at = excluded.trusted_at
                """, transaction, ("$peer", peer.ToBytes()), ("$name", (object?)name ?? DBNull.Value), ("$method", (long)method), ("$at", now.ToUnixTimeMilliseconds()));
            Execute("DELETE FROM revoked WHERE peer_id = $peer", transaction, ("$peer", peer.ToBytes()));
            transaction.Commit();
            _revocations.Remove(peer);
        }
        return Get(peer) ?? throw new InvalidOperationException("the trusted peer was not stored");
    }

    /// <summary>Revokes <paramref name="peer"/>: no longer trusted, refused at every level but development, its
    /// connections closed by the trust gater. Returns the revocation.</summary>
    public RevokedPeer Revoke(PeerId peer, string? reason = null)
    {
        ArgumentNullException.ThrowIfNull(peer);
        reason = CheckText(reason, "reason");
        var revoked = new RevokedPeer(peer, reason, _time.GetUtcNow());
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            Execute("DELETE FROM trusted WHERE peer_id = $peer", transaction, ("$peer", peer.ToBytes()));
            Execute("""
                INSERT INTO revoked (peer_id, reason, revoked_at) VALUES ($peer, $reason, $at)
                ON CONFLICT(peer_id) DO UPDATE SET reason = excluded.reason, revoked_at = excluded.revoked_at
                """, transaction, ("$peer", peer.ToBytes()), ("$reason", (object?)reason ?? DBNull.Value), ("$at", revoked.RevokedAt.ToUnixTimeMilliseconds()));
            transaction.Commit();
            _revocations.Remove(peer);
        }
        PeerRevoked?.Invoke(revoked);
        return revoked;
    }

    /// <summary>Forgets a peer's trust or revocation; returns whether there was any.</summary>
    public bool Forget(PeerId peer)
    {
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            int removed = Execute("DELETE FROM trusted WHERE peer_id = $peer", transaction, ("$peer", peer.ToBytes()))
                + Execute("DELETE FROM revoked WHERE peer_id = $peer", transaction, ("$peer", peer.ToBytes()));
            transaction.Commit();
            _revocations.Remove(peer);
            return removed > 0;
        }
    }

    public TrustedPeer? Get(PeerId peer) =>
        QueryTrusted("SELECT peer_id, name, method, trusted_at FROM trusted WHERE peer_id = $peer", ("$peer", peer.ToBytes())).FirstOrDefault();

    public TrustedPeer? FindByName(string name) =>
        QueryTrusted("SELECT peer_id, name, method, trusted_at FROM trusted WHERE name = $name", ("$name", name)).FirstOrDefault();

    public bool IsTrusted(PeerId peer) => Get(peer) is not null;

    public RevokedPeer? GetRevocation(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate)
        {
            if (TryRecallRevocation(peer, out var known)) return known;
            var revoked = QueryRevoked("SELECT peer_id, reason, revoked_at FROM revoked WHERE peer_id = $peer", ("$peer", peer.ToBytes())).FirstOrDefault();
            RememberRevocation(peer, revoked);
            return revoked;
        }
    }

    public bool IsRevoked(PeerId peer) => GetRevocation(peer) is not null;

    public IReadOnlyList<TrustedPeer> ListTrusted() =>
        QueryTrusted("SELECT peer_id, name, method, trusted_at FROM trusted ORDER BY trusted_at, peer_id");

    public IReadOnlyList<RevokedPeer> ListRevoked() =>
        QueryRevoked("SELECT peer_id, reason, revoked_at FROM revoked ORDER BY revoked_at, peer_id");

    /// <summary>
    /// Trust on first use under <paramref name="name"/>: the first peer seen under a name is trusted; later, the same
    /// peer is fine and another one is a conflict (a different key under a known name), which the caller refuses.
    /// A revoked peer is never trusted this way (the caller refuses it before).
    /// </summary>
    public TofuOutcome TrustOnFirstUse(PeerId peer, string name, out PeerId? known)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentException.ThrowIfNullOrEmpty(name);
        name = CheckText(name, "name")!;
        lock (_gate)
        {
            known = FindByName(name)?.Peer;
            if (known is not null) return known.Equals(peer) ? TofuOutcome.AlreadyTrusted : TofuOutcome.Conflict;
            if (IsTrusted(peer))
            {
                // Trusted already (by id or another name): keep its entry, the name stays free for no one else.
                known = peer;
                return TofuOutcome.AlreadyTrusted;
            }
            Trust(peer, name, TrustMethod.Tofu);
            return TofuOutcome.TrustedNow;
        }
    }

    /// <summary>Records that <paramref name="peer"/> completed a post-quantum handshake. Runs on every secured
    /// connection, so it writes only what changed: a new peer, or a "last seen" older than
    /// <see cref="TrustOptions.PostQuantumSeenResolution"/>; the cap is enforced when a new peer takes the table over it.</summary>
    public void MarkPostQuantum(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        long stale = now - (long)_options.PostQuantumSeenResolution.TotalMilliseconds;
        byte[] key = peer.ToBytes();
        lock (_gate)
        {
            if (MarkedPostQuantumSince(peer, stale)) return; // the database holds a newer "last seen" already
            if (Execute("INSERT OR IGNORE INTO post_quantum (peer_id, last_seen) VALUES ($peer, $at)", null, ("$peer", key), ("$at", now)) == 0)
            {
                if (Execute("UPDATE post_quantum SET last_seen = $at WHERE peer_id = $peer AND last_seen <= $stale", null,
                    ("$peer", key), ("$at", now), ("$stale", stale)) == 0)
                {
                    // Seen within the resolution: remember when, so the next connections need not ask.
                    if (Command("SELECT last_seen FROM post_quantum WHERE peer_id = $peer", null, ("$peer", key)).ExecuteScalar() is long seen)
                        RememberPostQuantum(peer, seen);
                    return;
                }
                RememberPostQuantum(peer, now);
                return;
            }
            RememberPostQuantum(peer, now);
            // A new peer. Bounded: past the cap the least recently seen peers are forgotten. The count is kept here and
            // read again only when it says the cap is passed (another process may have written meanwhile).
            if (++_postQuantumPeers <= _options.MaxTrackedPeers) return;
            _postQuantumPeers = CountPostQuantum();
            if (_postQuantumPeers <= _options.MaxTrackedPeers) return;
            _postQuantumPeers -= Execute("""
                DELETE FROM post_quantum WHERE peer_id IN (
                    SELECT peer_id FROM post_quantum ORDER BY last_seen DESC LIMIT -1 OFFSET $max)
                """, null, ("$max", (long)_options.MaxTrackedPeers));
            _postQuantumMarks.Clear(); // some of them are gone
        }
    }

    private long CountPostQuantum()
    {
        var command = Command("SELECT count(*) FROM post_quantum", null);
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Whether <paramref name="peer"/> was seen using post-quantum security before.</summary>
    public bool HasUsedPostQuantum(PeerId peer)
    {
        lock (_gate)
        {
            var command = Command("SELECT 1 FROM post_quantum WHERE peer_id = $peer", null, ("$peer", peer.ToBytes()));
            return command.ExecuteScalar() is not null;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var statement in _statements.Values) statement.Dispose();
            _statements.Clear();
            _connection.Dispose();
        }
    }

    private string? CheckText(string? text, string what)
    {
        if (text is null) return null;
        text = text.Trim();
        if (text.Length == 0) return null;
        if (text.Length > _options.MaxTextLength) throw new ArgumentException($"the {what} is longer than {_options.MaxTextLength} characters");
        if (text.Any(char.IsControl)) throw new ArgumentException($"the {what} contains control characters");
        return text;
    }

    private void ApplySchema()
    {
        Execute($"PRAGMA busy_timeout = {(long)_options.BusyTimeout.TotalMilliseconds};", null);
        if (_options.DatabasePath is not null) Execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", null);
        if ((long)(Command("PRAGMA user_version;", null).ExecuteScalar() ?? 0L) > SchemaVersion)
            throw new InvalidOperationException($"the trust store has a newer schema than this build's {SchemaVersion}");
        using var transaction = _connection.BeginTransaction();
        Execute("""
            CREATE TABLE IF NOT EXISTS trusted (
                peer_id BLOB PRIMARY KEY NOT NULL,
                name TEXT UNIQUE,
                method INTEGER NOT NULL,
                trusted_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS revoked (
                peer_id BLOB PRIMARY KEY NOT NULL,
                reason TEXT,
                revoked_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS post_quantum (
                peer_id BLOB PRIMARY KEY NOT NULL,
                last_seen INTEGER NOT NULL
            ) WITHOUT ROWID;
            """, transaction);
        Execute($"PRAGMA user_version = {SchemaVersion};", transaction);
        transaction.Commit();
    }

    private List<TrustedPeer> QueryTrusted(string sql, params (string, object)[] parameters)
    {
        lock (_gate)
        {
            var command = Command(sql, null, parameters);
            using var reader = command.ExecuteReader();
            var result = new List<TrustedPeer>();
            while (reader.Read())
            {
                result.Add(new TrustedPeer(PeerId.FromBytes((byte[])reader[0]), reader.IsDBNull(1) ? null : reader.GetString(1),
                    (TrustMethod)reader.GetInt64(2), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3))));
            }
            return result;
        }
    }

    private List<RevokedPeer> QueryRevoked(string sql, params (string, object)[] parameters)
    {
        lock (_gate)
        {
            var command = Command(sql, null, parameters);
            using var reader = command.ExecuteReader();
            var result = new List<RevokedPeer>();
            while (reader.Read())
            {
                result.Add(new RevokedPeer(PeerId.FromBytes((byte[])reader[0]), reader.IsDBNull(1) ? null : reader.GetString(1),
                    DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2))));
            }
            return result;
        }
    }

    private int Execute(string sql, SqliteTransaction? transaction, params (string, object)[] parameters)
    {
        var command = Command(sql, transaction, parameters);
        return command.ExecuteNonQuery();
    }

    /// <summary>The command for <paramref name="sql"/>, kept per SQL text (a fixed set) with its prepared statement: the
    /// gate's checks run on every connection, and parsing and planning each statement again cost more than running it.
    /// Used under <see cref="_gate"/> (or by the constructor); callers do not dispose it, the store does.</summary>
    private SqliteCommand Command(string sql, SqliteTransaction? transaction, params (string Name, object Value)[] parameters)
    {
        if (!_statements.TryGetValue(sql, out var command))
        {
            command = _connection.CreateCommand();
            command.CommandText = sql;
            _statements.Add(sql, command);
        }
        command.Transaction = transaction;
        command.Parameters.Clear();
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }
}
