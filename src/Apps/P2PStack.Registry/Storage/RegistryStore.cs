using System.Text.Json;
using Microsoft.Data.Sqlite;
using P2PStack.Identity;

namespace P2PStack.Registry.Storage;

/// <summary>
/// The registry's SQLite database (WAL): nodes, services, heartbeats, links, sovereign_keys and the replay cache.
/// One connection, one statement at a time under a lock: every operation is a short transaction.
/// </summary>
internal sealed class RegistryStore : IDisposable
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS nodes (
            id TEXT PRIMARY KEY NOT NULL,
            public_key BLOB NOT NULL,
            name TEXT,
            approval TEXT NOT NULL,
            online INTEGER NOT NULL,
            addresses TEXT NOT NULL,
            metrics_url TEXT,
            metadata TEXT,
            registered_at INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            decided_by TEXT,
            decided_at INTEGER,
            reason TEXT
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS nodes_online ON nodes(online, last_seen);
        CREATE TABLE IF NOT EXISTS services (
            node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            protocol TEXT,
            port INTEGER,
            PRIMARY KEY (node_id, name)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS heartbeats (
            id INTEGER PRIMARY KEY,
            node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            at INTEGER NOT NULL,
            connected_peers INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS heartbeats_at ON heartbeats(at);
        CREATE INDEX IF NOT EXISTS heartbeats_node ON heartbeats(node_id);
        CREATE TABLE IF NOT EXISTS links (
            node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
            peer_id TEXT NOT NULL,
            rtt_current REAL, rtt_min REAL, rtt_max REAL, rtt_avg REAL,
            local_address TEXT,
            remote_address TEXT,
            reported_at INTEGER NOT NULL,
            PRIMARY KEY (node_id, peer_id)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS sovereign_keys (
            peer_id TEXT PRIMARY KEY NOT NULL,
            label TEXT,
            added_by TEXT,
            added_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS request_nonces (
            nonce TEXT PRIMARY KEY NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS request_nonces_expiry ON request_nonces(expires_at);
        """;

    private readonly SqliteConnection _connection;
    private readonly Lock _gate = new();
    private long _nonceCount;
    private bool _disposed;

    static RegistryStore() => SQLitePCL.Batteries_V2.Init();

    public RegistryStore(string path, TimeSpan busyTimeout)
    {
        string fullPath = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
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
            Execute($"PRAGMA busy_timeout = {(int)busyTimeout.TotalMilliseconds};");
            Execute("PRAGMA journal_mode = WAL;");
            Execute("PRAGMA synchronous = NORMAL;");
            Execute("PRAGMA foreign_keys = ON;");
            Execute(Schema);
            _nonceCount = Scalar("SELECT COUNT(*) FROM request_nonces;");
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    // ---- replay cache ----

    /// <summary>Records a nonce until <paramref name="expiresAt"/>; false when it was seen before (a replay).</summary>
    public bool TryUseNonce(string nonce, long expiresAt, int maxNonces)
    {
        lock (_gate)
        {
            if (_nonceCount >= maxNonces)
                throw RegistryException.Unavailable("the replay cache is full; try again later");
            int added = Execute("INSERT OR IGNORE INTO request_nonces (nonce, expires_at) VALUES ($n, $e);", ("$n", nonce), ("$e", expiresAt));
            _nonceCount += added;
            return added == 1;
        }
    }

    // ---- sovereigns ----

    public bool IsSovereign(PeerId peer)
    {
        lock (_gate) return Scalar("SELECT COUNT(*) FROM sovereign_keys WHERE peer_id = $p;", ("$p", peer.ToString())) > 0;
    }

    /// <summary>Adds a sovereign (idempotent); returns it and whether it is new.</summary>
    public (SovereignView Sovereign, bool Added) AddSovereign(PeerId peer, string? label, string? addedBy, long now)
    {
        lock (_gate)
        {
            int added = Execute("INSERT OR IGNORE INTO sovereign_keys (peer_id, label, added_by, added_at) VALUES ($p, $l, $b, $t);",
                ("$p", peer.ToString()), ("$l", label), ("$b", addedBy), ("$t", now));
            using var command = Command("SELECT label, added_by, added_at FROM sovereign_keys WHERE peer_id = $p;", ("$p", peer.ToString()));
            using var reader = command.ExecuteReader();
            reader.Read();
            return (new SovereignView(peer.ToString(), NullableString(reader, 0), NullableString(reader, 1), Time(reader.GetInt64(2))), added == 1);
        }
    }

    public IReadOnlyList<SovereignView> GetSovereigns()
    {
        lock (_gate)
        {
            using var command = Command("SELECT peer_id, label, added_by, added_at FROM sovereign_keys ORDER BY added_at, peer_id;");
            using var reader = command.ExecuteReader();
            var list = new List<SovereignView>();
            while (reader.Read()) list.Add(new SovereignView(reader.GetString(0), NullableString(reader, 1), NullableString(reader, 2), Time(reader.GetInt64(3))));
            return list;
        }
    }

    // ---- nodes ----

    /// <summary>Registers or re-registers a node; a new node starts pending unless <paramref name="approved"/>.</summary>
    /// <returns>The node's status and whether the node is new.</returns>
    public (string Status, bool Created) Register(PeerId id, byte[] publicKey, RegisterRequest request, long now, bool approved,
        int maxNodes, int maxPending)
    {
        string key = id.ToString();
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            string? approval = null;
            using (var find = Command("SELECT approval FROM nodes WHERE id = $id;", transaction, ("$id", key)))
                approval = find.ExecuteScalar() as string;
            bool created = approval is null;
            if (approval == Approval.Denied) throw RegistryException.Forbidden($"node {key} was denied by a sovereign");
            if (created)
            {
                if (Scalar("SELECT COUNT(*) FROM nodes;", transaction) >= maxNodes)
                    throw RegistryException.Unavailable($"the registry holds its maximum of {maxNodes} nodes");
                if (!approved && Scalar("SELECT COUNT(*) FROM nodes WHERE approval = 'pending';", transaction) >= maxPending)
                    throw RegistryException.Unavailable($"the registry holds its maximum of {maxPending} pending nodes; a sovereign must decide first");
                approval = approved ? Approval.Approved : Approval.Pending;
                Execute("""
                    INSERT INTO nodes (id, public_key, name, approval, online, addresses, metrics_url, metadata, registered_at, last_seen)
                    VALUES ($id, $key, $name, $approval, 1, $addresses, $metrics, $metadata, $now, $now);
                    """, transaction, ("$id", key), ("$key", publicKey), ("$name", request.Name), ("$approval", approval),
                    ("$addresses", Json(request.Addresses)), ("$metrics", request.MetricsUrl), ("$metadata", JsonOrNull(request.Metadata)), ("$now", now));
            }
            else
            {
                Execute("""
                    UPDATE nodes SET public_key = $key, name = $name, online = 1, addresses = $addresses, metrics_url = $metrics,
                        metadata = $metadata, last_seen = $now WHERE id = $id;
                    """, transaction, ("$id", key), ("$key", publicKey), ("$name", request.Name), ("$addresses", Json(request.Addresses)),
                    ("$metrics", request.MetricsUrl), ("$metadata", JsonOrNull(request.Metadata)), ("$now", now));
                Execute("DELETE FROM services WHERE node_id = $id;", transaction, ("$id", key));
            }
            foreach (var service in request.Services)
            {
                Execute("INSERT OR REPLACE INTO services (node_id, name, protocol, port) VALUES ($id, $name, $protocol, $port);", transaction,
                    ("$id", key), ("$name", service.Name), ("$protocol", service.Protocol), ("$port", service.Port));
            }
            transaction.Commit();
            return (Derive(approval!, online: true), created);
        }
    }

    /// <summary>Records a heartbeat: last seen, connections (replacing the previous ones), optional new addresses.</summary>
    /// <returns>The node's status, and whether it was offline before this heartbeat.</returns>
    public (string Status, bool CameBack) Heartbeat(PeerId id, HeartbeatRequest request, long now)
    {
        string key = id.ToString();
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            string approval;
            bool wasOnline;
            using (var find = Command("SELECT approval, online FROM nodes WHERE id = $id;", transaction, ("$id", key)))
            using (var reader = find.ExecuteReader())
            {
                if (!reader.Read()) throw RegistryException.NotFound($"node {key} is not registered; POST /register first");
                approval = reader.GetString(0);
                wasOnline = reader.GetInt64(1) != 0;
            }
            if (approval == Approval.Denied) throw RegistryException.Forbidden($"node {key} was denied by a sovereign");
            Execute("UPDATE nodes SET online = 1, last_seen = $now WHERE id = $id;", transaction, ("$id", key), ("$now", now));
            if (request.Addresses is { } addresses)
                Execute("UPDATE nodes SET addresses = $a WHERE id = $id;", transaction, ("$id", key), ("$a", Json(addresses)));
            if (request.MetricsUrl is { } metrics)
                Execute("UPDATE nodes SET metrics_url = $m WHERE id = $id;", transaction, ("$id", key), ("$m", metrics));
            Execute("DELETE FROM links WHERE node_id = $id;", transaction, ("$id", key));
            foreach (var link in request.Connections)
            {
                Execute("""
                    INSERT OR REPLACE INTO links (node_id, peer_id, rtt_current, rtt_min, rtt_max, rtt_avg, local_address, remote_address, reported_at)
                    VALUES ($id, $peer, $c, $mi, $ma, $av, $la, $ra, $now);
                    """, transaction, ("$id", key), ("$peer", link.PeerId), ("$c", link.RttMs?.Current), ("$mi", link.RttMs?.Min),
                    ("$ma", link.RttMs?.Max), ("$av", link.RttMs?.Avg), ("$la", link.LocalAddress), ("$ra", link.RemoteAddress), ("$now", now));
            }
            Execute("INSERT INTO heartbeats (node_id, at, connected_peers) VALUES ($id, $now, $n);", transaction,
                ("$id", key), ("$now", now), ("$n", request.Connections.Count));
            transaction.Commit();
            return (Derive(approval, online: true), !wasOnline);
        }
    }

    /// <summary>A sovereign's decision on a node.</summary>
    public string Decide(string nodeId, bool approve, string sovereign, string? reason, long now)
    {
        lock (_gate)
        {
            int changed = Execute("UPDATE nodes SET approval = $a, decided_by = $s, decided_at = $now, reason = $r WHERE id = $id;",
                ("$id", nodeId), ("$a", approve ? Approval.Approved : Approval.Denied), ("$s", sovereign), ("$now", now), ("$r", reason));
            if (changed == 0) throw RegistryException.NotFound($"node {nodeId} is not registered");
            if (!approve) Execute("DELETE FROM links WHERE node_id = $id;", ("$id", nodeId));
            bool online = Scalar("SELECT online FROM nodes WHERE id = $id;", ("$id", nodeId)) != 0;
            return Derive(approve ? Approval.Approved : Approval.Denied, online);
        }
    }

    /// <summary>Number of heartbeats recorded for a node (tests, the load benchmark).</summary>
    public long CountHeartbeats(string nodeId)
    {
        lock (_gate) return Scalar("SELECT COUNT(*) FROM heartbeats WHERE node_id = $id;", ("$id", nodeId));
    }

    /// <summary>The node's status, or null when unknown (read authorisation of signed reads).</summary>
    public string? GetStatus(PeerId id)
    {
        lock (_gate)
        {
            using var command = Command("SELECT approval, online FROM nodes WHERE id = $id;", ("$id", id.ToString()));
            using var reader = command.ExecuteReader();
            return reader.Read() ? Derive(reader.GetString(0), reader.GetInt64(1) != 0) : null;
        }
    }

    public IReadOnlyList<NodeView> GetNodes(string? status)
    {
        lock (_gate)
        {
            var (where, args) = StatusFilter(status);
            var services = LoadServices();
            var peerCounts = LoadLinkCounts();
            using var command = Command($"SELECT {NodeColumns} FROM nodes {where} ORDER BY registered_at, id;", args);
            using var reader = command.ExecuteReader();
            var list = new List<NodeView>();
            while (reader.Read()) list.Add(ReadNode(reader, services, peerCounts, null));
            return list;
        }
    }

    public NodeView? GetNode(string id)
    {
        lock (_gate)
        {
            var services = LoadServices(id);
            var links = LoadLinks(id);
            using var command = Command($"SELECT {NodeColumns} FROM nodes WHERE id = $id;", ("$id", id));
            using var reader = command.ExecuteReader();
            if (!reader.Read()) return null;
            return ReadNode(reader, services, new Dictionary<string, int> { [id] = links.Count }, links);
        }
    }

    /// <summary>Nodes and the links reported by online nodes between registered nodes (one per pair, the freshest report).</summary>
    public Topology GetTopology(long now)
    {
        lock (_gate)
        {
            var nodes = GetNodes(null);
            var status = nodes.ToDictionary(n => n.Id, n => n.Status, StringComparer.Ordinal);
            using var command = Command("""
                SELECT l.node_id, l.peer_id, l.rtt_current, l.rtt_min, l.rtt_max, l.rtt_avg, l.reported_at
                FROM links l JOIN nodes n ON n.id = l.node_id
                WHERE n.online = 1 AND n.approval <> 'denied'
                ORDER BY l.reported_at DESC;
                """);
            using var reader = command.ExecuteReader();
            var links = new Dictionary<(string, string), TopologyLink>();
            while (reader.Read())
            {
                string from = reader.GetString(0), to = reader.GetString(1);
                if (!status.TryGetValue(to, out var targetStatus) || targetStatus == NodeStatus.Denied || from == to) continue;
                var pair = string.CompareOrdinal(from, to) < 0 ? (from, to) : (to, from);
                if (links.ContainsKey(pair)) continue; // an older report of the same pair
                links[pair] = new TopologyLink(pair.Item1, pair.Item2, ReadRtt(reader, 2), from, Time(reader.GetInt64(6)),
                    Stale: targetStatus == NodeStatus.Offline);
            }
            return new Topology(nodes, [.. links.Values.OrderBy(l => l.Source, StringComparer.Ordinal).ThenBy(l => l.Target, StringComparer.Ordinal)], Time(now));
        }
    }

    /// <summary>
    /// Marks approved and pending nodes silent since <paramref name="offlineBefore"/> offline, forgets expired
    /// nonces, old heartbeats and long-silent pending nodes. Returns the nodes that went offline.
    /// </summary>
    public IReadOnlyList<string> Sweep(long now, long offlineBefore, long heartbeatsBefore, long pendingBefore)
    {
        lock (_gate)
        {
            using var transaction = _connection.BeginTransaction();
            var offline = new List<string>();
            using (var find = Command("SELECT id, approval FROM nodes WHERE online = 1 AND last_seen < $t;", transaction, ("$t", offlineBefore)))
            using (var reader = find.ExecuteReader())
            {
                while (reader.Read())
                {
                    if (reader.GetString(1) == Approval.Approved) offline.Add(reader.GetString(0));
                }
            }
            Execute("UPDATE nodes SET online = 0 WHERE online = 1 AND last_seen < $t;", transaction, ("$t", offlineBefore));
            Execute("DELETE FROM links WHERE node_id IN (SELECT id FROM nodes WHERE online = 0);", transaction);
            Execute("DELETE FROM nodes WHERE approval = 'pending' AND last_seen < $t;", transaction, ("$t", pendingBefore));
            Execute("DELETE FROM heartbeats WHERE at < $t;", transaction, ("$t", heartbeatsBefore));
            _nonceCount -= Execute("DELETE FROM request_nonces WHERE expires_at < $t;", transaction, ("$t", now));
            transaction.Commit();
            return offline;
        }
    }

    /// <summary>Node counts per status (health).</summary>
    public IReadOnlyDictionary<string, int> CountByStatus()
    {
        lock (_gate)
        {
            var counts = NodeStatus.All.ToDictionary(s => s, _ => 0, StringComparer.Ordinal);
            using var command = Command("SELECT approval, online, COUNT(*) FROM nodes GROUP BY approval, online;");
            using var reader = command.ExecuteReader();
            while (reader.Read()) counts[Derive(reader.GetString(0), reader.GetInt64(1) != 0)] += reader.GetInt32(2);
            return counts;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _connection.Dispose();
        }
    }

    // ---- helpers ----

    private const string NodeColumns =
        "id, name, approval, online, addresses, metrics_url, metadata, registered_at, last_seen, decided_by, decided_at, reason";

    private static class Approval
    {
        public const string Pending = "pending";
        public const string Approved = "approved";
        public const string Denied = "denied";
    }

    private static string Derive(string approval, bool online) => approval switch
    {
        Approval.Denied => NodeStatus.Denied,
        Approval.Pending => NodeStatus.Pending,
        _ => online ? NodeStatus.Active : NodeStatus.Offline,
    };

    private static (string Where, (string, object?)[] Args) StatusFilter(string? status) => status switch
    {
        null => ("", []),
        NodeStatus.Denied => ("WHERE approval = 'denied'", []),
        NodeStatus.Pending => ("WHERE approval = 'pending'", []),
        NodeStatus.Active => ("WHERE approval = 'approved' AND online = 1", []),
        NodeStatus.Offline => ("WHERE approval = 'approved' AND online = 0", []),
        _ => throw RegistryException.BadRequest($"unknown status '{status}': one of {string.Join(", ", NodeStatus.All)}"),
    };

    private NodeView ReadNode(SqliteDataReader reader, IReadOnlyDictionary<string, List<ServiceInfo>> services,
        IReadOnlyDictionary<string, int> peerCounts, IReadOnlyList<ConnectionReport>? connections)
    {
        string id = reader.GetString(0);
        return new NodeView
        {
            Id = id,
            Name = NullableString(reader, 1),
            Status = Derive(reader.GetString(2), reader.GetInt64(3) != 0),
            Addresses = JsonSerializer.Deserialize<List<string>>(reader.GetString(4), RegistryJson.Options) ?? [],
            MetricsUrl = NullableString(reader, 5),
            Metadata = reader.IsDBNull(6) ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(6), RegistryJson.Options),
            RegisteredAt = Time(reader.GetInt64(7)),
            LastSeen = Time(reader.GetInt64(8)),
            DecidedBy = NullableString(reader, 9),
            DecidedAt = reader.IsDBNull(10) ? null : Time(reader.GetInt64(10)),
            Reason = NullableString(reader, 11),
            Services = services.TryGetValue(id, out var s) ? s : [],
            ConnectedPeers = peerCounts.TryGetValue(id, out int count) ? count : 0,
            Connections = connections,
        };
    }

    private Dictionary<string, List<ServiceInfo>> LoadServices(string? nodeId = null)
    {
        using var command = nodeId is null
            ? Command("SELECT node_id, name, protocol, port FROM services ORDER BY node_id, name;")
            : Command("SELECT node_id, name, protocol, port FROM services WHERE node_id = $id ORDER BY name;", ("$id", nodeId));
        using var reader = command.ExecuteReader();
        var map = new Dictionary<string, List<ServiceInfo>>(StringComparer.Ordinal);
        while (reader.Read())
        {
            string id = reader.GetString(0);
            if (!map.TryGetValue(id, out var list)) map[id] = list = [];
            list.Add(new ServiceInfo(reader.GetString(1), NullableString(reader, 2), reader.IsDBNull(3) ? null : reader.GetInt32(3)));
        }
        return map;
    }

    private Dictionary<string, int> LoadLinkCounts()
    {
        using var command = Command("SELECT node_id, COUNT(*) FROM links GROUP BY node_id;");
        using var reader = command.ExecuteReader();
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        while (reader.Read()) map[reader.GetString(0)] = reader.GetInt32(1);
        return map;
    }

    private List<ConnectionReport> LoadLinks(string nodeId)
    {
        using var command = Command("""
            SELECT peer_id, rtt_current, rtt_min, rtt_max, rtt_avg, local_address, remote_address FROM links
            WHERE node_id = $id ORDER BY peer_id;
            """, ("$id", nodeId));
        using var reader = command.ExecuteReader();
        var list = new List<ConnectionReport>();
        while (reader.Read())
            list.Add(new ConnectionReport(reader.GetString(0), ReadRtt(reader, 1), NullableString(reader, 5), NullableString(reader, 6)));
        return list;
    }

    private static RttStats? ReadRtt(SqliteDataReader reader, int first) =>
        reader.IsDBNull(first) ? null
            : new RttStats(reader.GetDouble(first), reader.GetDouble(first + 1), reader.GetDouble(first + 2), reader.GetDouble(first + 3));

    private static string? NullableString(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static DateTimeOffset Time(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, RegistryJson.Options);

    private static string? JsonOrNull<T>(T? value) where T : class => value is null ? null : Json(value);

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters) => Command(sql, null, parameters);

    private SqliteCommand Command(string sql, SqliteTransaction? transaction, params (string Name, object? Value)[] parameters)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    private int Execute(string sql, params (string Name, object? Value)[] parameters) => Execute(sql, null, parameters);

    private int Execute(string sql, SqliteTransaction? transaction, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, transaction, parameters);
        return command.ExecuteNonQuery();
    }

    private long Scalar(string sql, params (string Name, object? Value)[] parameters) => Scalar(sql, null, parameters);

    private long Scalar(string sql, SqliteTransaction? transaction, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(sql, transaction, parameters);
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }
}
