using Microsoft.Data.Sqlite;

namespace P2PStack.PeerStore.Sqlite;

/// <summary>Creates or checks the tables. Peer ids, addresses and keys are stored in their binary encodings.</summary>
internal static class SqliteSchema
{
    /// <summary>2: peers.written (when anything about the peer was last written; the cap and the sweep use it).</summary>
    public const int Version = 2;

    private const string CreateTables = """
        CREATE TABLE IF NOT EXISTS peers (
            peer_id BLOB PRIMARY KEY NOT NULL,
            public_key BLOB,
            latency_current INTEGER,
            latency_min INTEGER,
            latency_max INTEGER,
            latency_average INTEGER,
            latency_samples INTEGER,
            record_seq INTEGER,
            record BLOB,
            written INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS addresses (
            peer_id BLOB NOT NULL REFERENCES peers(peer_id) ON DELETE CASCADE,
            address BLOB NOT NULL,
            expires INTEGER NOT NULL,
            PRIMARY KEY (peer_id, address)
        );
        CREATE TABLE IF NOT EXISTS protocols (
            peer_id BLOB NOT NULL REFERENCES peers(peer_id) ON DELETE CASCADE,
            protocol TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (peer_id, protocol)
        );
        CREATE TABLE IF NOT EXISTS metadata (
            peer_id BLOB NOT NULL REFERENCES peers(peer_id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (peer_id, key)
        );
        """;

    private const string UpgradeFrom1 = "ALTER TABLE peers ADD COLUMN written INTEGER NOT NULL DEFAULT 0;";

    private const string CreateIndexes = """
        CREATE INDEX IF NOT EXISTS peers_written ON peers(written);
        CREATE INDEX IF NOT EXISTS addresses_expires ON addresses(expires);
        """;

    public static void Apply(SqliteConnection connection, TimeSpan busyTimeout)
    {
        Execute(connection, $"PRAGMA busy_timeout = {(long)busyTimeout.TotalMilliseconds};");
        // WAL lets readers (e.g. a status query) run beside the node's writes; NORMAL sync is durable at checkpoints.
        string mode = Scalar(connection, "PRAGMA journal_mode = WAL;") as string ?? "";
        if (!mode.Equals("wal", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"the peer store database could not switch to WAL mode (got '{mode}')");
        Execute(connection, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
        long version = (long)(Scalar(connection, "PRAGMA user_version;") ?? 0L);
        if (version > Version)
            throw new InvalidOperationException($"the peer store database has schema version {version}, newer than this build's {Version}");
        using var transaction = connection.BeginTransaction();
        Execute(connection, CreateTables, transaction);
        if (version == 1) Execute(connection, UpgradeFrom1, transaction); // upgraded peers count as written long ago
        Execute(connection, CreateIndexes, transaction);
        Execute(connection, $"PRAGMA user_version = {Version};", transaction);
        transaction.Commit();
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
