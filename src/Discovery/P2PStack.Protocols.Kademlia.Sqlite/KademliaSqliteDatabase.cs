using Microsoft.Data.Sqlite;

namespace P2PStack.Protocols.Kademlia.Sqlite;

/// <summary>
/// The SQLite database (WAL mode) both DHT stores share: one connection, one statement at a time (callers hold
/// <see cref="Gate"/>). Dispose it after the stores.
/// </summary>
public sealed class KademliaSqliteDatabase : IDisposable
{
    /// <summary>2: records.publisher (per-peer quotas), providers.first_seen (long-lived providers stay).</summary>
    internal const int SchemaVersion = 2;

    private const string CreateTables = """
        CREATE TABLE IF NOT EXISTS records (
            key BLOB PRIMARY KEY NOT NULL,
            value BLOB NOT NULL,
            received INTEGER NOT NULL,
            publisher BLOB
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS providers (
            key BLOB NOT NULL,
            provider BLOB NOT NULL,
            addresses BLOB NOT NULL,
            received INTEGER NOT NULL,
            first_seen INTEGER NOT NULL DEFAULT 0,
            UNIQUE (key, provider)
        );
        """;

    private const string UpgradeFrom1 = """
        ALTER TABLE records ADD COLUMN publisher BLOB;
        ALTER TABLE providers ADD COLUMN first_seen INTEGER NOT NULL DEFAULT 0;
        UPDATE providers SET first_seen = received;
        """;

    private const string CreateIndexes = """
        CREATE INDEX IF NOT EXISTS records_received ON records(received);
        CREATE INDEX IF NOT EXISTS records_publisher ON records(publisher) WHERE publisher IS NOT NULL;
        CREATE INDEX IF NOT EXISTS providers_received ON providers(received);
        CREATE INDEX IF NOT EXISTS providers_provider ON providers(provider);
        """;

    private readonly SqliteConnection _connection;
    private bool _disposed;

    static KademliaSqliteDatabase() => SQLitePCL.Batteries_V2.Init();

    public KademliaSqliteDatabase(SqliteKademliaStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Path);
        string fullPath = System.IO.Path.GetFullPath(options.Path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(fullPath)!);
        Path = fullPath;
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
            ApplySchema(options.BusyTimeout);
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens (or creates) the database at <paramref name="path"/> with default options.</summary>
    public KademliaSqliteDatabase(string path) : this(new SqliteKademliaStoreOptions { Path = path }) { }

    /// <summary>Full path of the database file.</summary>
    public string Path { get; }

    /// <summary>Held around every use of the connection.</summary>
    internal Lock Gate { get; } = new();

    private void ApplySchema(TimeSpan busyTimeout)
    {
        Execute($"PRAGMA busy_timeout = {(long)busyTimeout.TotalMilliseconds};");
        using (var mode = Command("PRAGMA journal_mode = WAL;"))
        {
            string journal = mode.ExecuteScalar() as string ?? "";
            if (!journal.Equals("wal", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"the DHT database could not switch to WAL mode (got '{journal}')");
        }
        Execute("PRAGMA synchronous = NORMAL;");
        long found;
        using (var version = Command("PRAGMA user_version;"))
        {
            found = (long)(version.ExecuteScalar() ?? 0L);
            if (found > SchemaVersion)
                throw new InvalidOperationException($"the DHT database has schema version {found}, newer than this build's {SchemaVersion}");
        }
        using var transaction = _connection.BeginTransaction();
        Execute(CreateTables, transaction);
        if (found == 1) Execute(UpgradeFrom1, transaction);
        Execute(CreateIndexes, transaction);
        Execute($"PRAGMA user_version = {SchemaVersion};", transaction);
        transaction.Commit();
    }

    /// <summary>Runs <paramref name="action"/> in a transaction; the caller holds <see cref="Gate"/>.</summary>
    internal T InTransaction<T>(Func<SqliteTransaction, T> action)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var transaction = _connection.BeginTransaction();
        var result = action(transaction);
        transaction.Commit();
        return result;
    }

    internal SqliteCommand Command(string sql, SqliteTransaction? transaction = null, params (string Name, object Value)[] parameters)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    internal int Execute(string sql, SqliteTransaction? transaction = null, params (string Name, object Value)[] parameters)
    {
        using var command = Command(sql, transaction, parameters);
        return command.ExecuteNonQuery();
    }

    internal long Scalar(string sql, SqliteTransaction? transaction = null, params (string Name, object Value)[] parameters)
    {
        using var command = Command(sql, transaction, parameters);
        return command.ExecuteScalar() is long value ? value : 0;
    }

    public void Dispose()
    {
        lock (Gate)
        {
            if (_disposed) return;
            _disposed = true;
            _connection.Dispose();
        }
    }
}
