using Microsoft.Data.Sqlite;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// The DAG in SQLite (WAL): vertices with their status and times, and equivocation proofs. Writes of one engine step
/// go into one transaction, committed by <see cref="Commit"/>. One connection; the engine's loop is its only writer,
/// readers (status, get) go through the engine too.
/// </summary>
public sealed class SqliteDagStore : IDagStore, IDisposable
{
    internal const int SchemaVersion = 1;

    private const string CreateTables = """
        CREATE TABLE IF NOT EXISTS vertices (
            id BLOB PRIMARY KEY NOT NULL,
            envelope BLOB NOT NULL,
            height INTEGER NOT NULL,
            status INTEGER NOT NULL,
            first_seen INTEGER NOT NULL,
            decided INTEGER,
            local INTEGER NOT NULL,
            seq INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS vertices_order ON vertices(height, seq);
        CREATE TABLE IF NOT EXISTS equivocations (
            first BLOB NOT NULL,
            second BLOB NOT NULL,
            detected INTEGER NOT NULL
        );
        """;

    private readonly SqliteConnection _connection;
    private SqliteTransaction? _transaction;
    private long _seq;
    private bool _disposed;

    static SqliteDagStore() => SQLitePCL.Batteries_V2.Init();

    /// <param name="busyTimeout">How long a write waits for a lock held by another connection.</param>
    public SqliteDagStore(string path, TimeSpan? busyTimeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = false,
        }.ToString());
        try
        {
            _connection.Open();
            Execute($"PRAGMA busy_timeout = {(long)(busyTimeout ?? TimeSpan.FromSeconds(5)).TotalMilliseconds};");
            using (var mode = Command("PRAGMA journal_mode = WAL;"))
            {
                string journal = mode.ExecuteScalar() as string ?? "";
                if (!journal.Equals("wal", StringComparison.OrdinalIgnoreCase))
                    throw new InvalidOperationException($"the DAG database could not switch to WAL mode (got '{journal}')");
            }
            Execute("PRAGMA synchronous = NORMAL;");
            using (var version = Command("PRAGMA user_version;"))
            {
                long found = (long)(version.ExecuteScalar() ?? 0L);
                if (found > SchemaVersion)
                    throw new InvalidOperationException($"the DAG database has schema version {found}, newer than this build's {SchemaVersion}");
            }
            using (var transaction = _connection.BeginTransaction())
            {
                Execute(CreateTables, transaction);
                Execute($"PRAGMA user_version = {SchemaVersion};", transaction);
                transaction.Commit();
            }
            using var max = Command("SELECT COALESCE(MAX(seq), 0) FROM vertices;");
            _seq = (long)(max.ExecuteScalar() ?? 0L);
        }
        catch
        {
            _connection.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public IEnumerable<StoredVertex> Load()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var result = new List<StoredVertex>();
        using var command = Command("SELECT envelope, status, first_seen, decided, local FROM vertices ORDER BY height, seq;", _transaction);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            result.Add(new StoredVertex((byte[])reader[0], (VertexStatus)reader.GetInt64(1), FromMs(reader.GetInt64(2)),
                reader.IsDBNull(3) ? null : FromMs(reader.GetInt64(3)), reader.GetInt64(4) != 0));
        }
        return result;
    }

    public IEnumerable<EquivocationProof> LoadEquivocations(DagConsensusOptions options)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var result = new List<EquivocationProof>();
        using var command = Command("SELECT first, second, detected FROM equivocations;", _transaction);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            try
            {
                result.Add(EquivocationProof.Verify((byte[])reader[0], (byte[])reader[1], options, FromMs(reader.GetInt64(2))));
            }
            catch (DagFormatException)
            {
                // A proof of another DAG (renamed instance): not ours to report.
            }
        }
        return result;
    }

    public void Add(DagVertex vertex, VertexStatus status, DateTimeOffset firstSeen, bool local)
    {
        Execute("""
            INSERT OR IGNORE INTO vertices (id, envelope, height, status, first_seen, decided, local, seq)
            VALUES ($id, $envelope, $height, $status, $first, $decided, $local, $seq);
            """, Transaction(),
            ("$id", vertex.Id.ToBytes()), ("$envelope", vertex.Envelope), ("$height", (long)Math.Min(vertex.Height, long.MaxValue)),
            ("$status", (long)status), ("$first", firstSeen.ToUnixTimeMilliseconds()),
            ("$decided", status == VertexStatus.Processing ? DBNull.Value : firstSeen.ToUnixTimeMilliseconds()), ("$local", local ? 1L : 0L),
            ("$seq", ++_seq));
    }

    public void SetDecided(VertexId id, VertexStatus status, DateTimeOffset decidedAt) =>
        Execute("UPDATE vertices SET status = $status, decided = $decided WHERE id = $id;", Transaction(),
            ("$id", id.ToBytes()), ("$status", (long)status), ("$decided", decidedAt.ToUnixTimeMilliseconds()));

    public void AddEquivocation(EquivocationProof proof) =>
        Execute("INSERT INTO equivocations (first, second, detected) VALUES ($first, $second, $detected);", Transaction(),
            ("$first", proof.First.Envelope), ("$second", proof.Second.Envelope), ("$detected", proof.DetectedAt.ToUnixTimeMilliseconds()));

    public StoredVertex? Find(VertexId id)
    {
        using var command = Command("SELECT envelope, status, first_seen, decided, local FROM vertices WHERE id = $id;", _transaction,
            ("$id", id.ToBytes()));
        using var reader = command.ExecuteReader();
        if (!reader.Read()) return null;
        return new StoredVertex((byte[])reader[0], (VertexStatus)reader.GetInt64(1), FromMs(reader.GetInt64(2)),
            reader.IsDBNull(3) ? null : FromMs(reader.GetInt64(3)), reader.GetInt64(4) != 0);
    }

    /// <summary>Vertices stored.</summary>
    public long Count()
    {
        using var command = Command("SELECT COUNT(*) FROM vertices;", _transaction);
        return (long)(command.ExecuteScalar() ?? 0L);
    }

    public void Commit()
    {
        if (_transaction is null) return;
        _transaction.Commit();
        _transaction.Dispose();
        _transaction = null;
    }

    private SqliteTransaction Transaction()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _transaction ??= _connection.BeginTransaction();
    }

    private SqliteCommand Command(string sql, SqliteTransaction? transaction = null, params (string Name, object Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return command;
    }

    private int Execute(string sql, SqliteTransaction? transaction = null, params (string Name, object Value)[] parameters)
    {
        using var command = Command(sql, transaction, parameters);
        return command.ExecuteNonQuery();
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _transaction?.Dispose();
        _connection.Dispose();
    }
}
