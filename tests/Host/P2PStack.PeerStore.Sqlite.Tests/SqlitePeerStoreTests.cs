using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;

namespace P2PStack.PeerStore.Sqlite.Tests;

/// <summary>A fresh database directory per test, deleted afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("peerstore-test-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

public sealed class SqlitePeerStoreContractTests : PeerStoreContract
{
    private readonly TempDirectory _directory = new();

    protected override IPeerStore CreateStore(TimeProvider time, int maxPeers = PeerStoreDefaults.MaxPeers) =>
        new SqlitePeerStore(new SqlitePeerStoreOptions
        {
            Path = Path.Combine(_directory.Path, maxPeers == PeerStoreDefaults.MaxPeers ? "peers.db" : $"peers-{maxPeers}.db"),
            TimeProvider = time,
            MaxPeers = maxPeers,
        });

    public override void Dispose()
    {
        base.Dispose();
        _directory.Dispose();
    }
}

public sealed class SqlitePeerStoreTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    private string DatabasePath => Path.Combine(_directory.Path, "nested", "peers.db");

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void EverythingSurvivesReopening()
    {
        var key = PrivateKey.Generate(KeyType.Ecdsa);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        var record = new PeerRecord(peer, 42, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]);
        var envelope = record.Seal(key);
        using (var store = new SqlitePeerStore(DatabasePath))
        {
            store.ConsumePeerRecord(envelope, record, TimeSpan.FromHours(1));
            store.AddAddresses(peer, [Multiaddr.Parse("/ip4/192.0.2.2/tcp/4001/ws")], TimeSpan.FromMinutes(30));
            store.SetProtocols(peer, ["/ipfs/ping/1.0.0", "/perf/1.0.0"]);
            store.AddPublicKey(peer, key.PublicKey);
            store.RecordLatency(peer, TimeSpan.FromMilliseconds(7));
            store.SetMetadata(peer, "agent", "p2pstack/0.1.0");
        }
        using (var reopened = new SqlitePeerStore(DatabasePath))
        {
            Assert.Equal([peer], reopened.Peers);
            Assert.Equal([Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001"), Multiaddr.Parse("/ip4/192.0.2.2/tcp/4001/ws")],
                reopened.GetAddresses(peer));
            Assert.Equal(["/ipfs/ping/1.0.0", "/perf/1.0.0"], reopened.GetProtocols(peer));
            Assert.Equal(key.PublicKey, reopened.GetPublicKey(peer));
            Assert.Equal(TimeSpan.FromMilliseconds(7), reopened.GetLatency(peer)!.Current);
            Assert.Equal("p2pstack/0.1.0", reopened.GetMetadata(peer, "agent"));
            Assert.Equal(envelope.ToBytes(), reopened.GetPeerRecord(peer)!.ToBytes());
            var stale = new PeerRecord(peer, 41, []);
            Assert.False(reopened.ConsumePeerRecord(stale.Seal(key), stale, TimeSpan.FromHours(1)));
        }
    }

    [Fact]
    public void DatabaseIsInWalMode()
    {
        using var store = new SqlitePeerStore(DatabasePath);
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string)command.ExecuteScalar()!);
    }

    [Fact]
    public void TamperedRecordIsNotReturnedAsValid()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        var record = new PeerRecord(peer, 1, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]);
        using var store = new SqlitePeerStore(DatabasePath);
        store.ConsumePeerRecord(record.Seal(key), record, TimeSpan.FromHours(1));
        using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            byte[] stored;
            using (var read = connection.CreateCommand())
            {
                read.CommandText = "SELECT record FROM peers;";
                stored = (byte[])read.ExecuteScalar()!;
            }
            stored[^1] ^= 0x01; // the last byte belongs to the signature
            using var write = connection.CreateCommand();
            write.CommandText = "UPDATE peers SET record = $record;";
            write.Parameters.AddWithValue("$record", stored);
            Assert.Equal(1, write.ExecuteNonQuery());
        }
        Assert.Throws<EnvelopeException>(() => store.GetPeerRecord(peer));
    }

    [Fact]
    public void SchemaOneIsUpgradedAndItsPeersAreKept()
    {
        var peer = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE peers (peer_id BLOB PRIMARY KEY NOT NULL, public_key BLOB, latency_current INTEGER, latency_min INTEGER,
                    latency_max INTEGER, latency_average INTEGER, latency_samples INTEGER, record_seq INTEGER, record BLOB) WITHOUT ROWID;
                CREATE TABLE addresses (peer_id BLOB NOT NULL REFERENCES peers(peer_id) ON DELETE CASCADE, address BLOB NOT NULL,
                    expires INTEGER NOT NULL, PRIMARY KEY (peer_id, address));
                CREATE TABLE protocols (peer_id BLOB NOT NULL REFERENCES peers(peer_id) ON DELETE CASCADE, protocol TEXT NOT NULL,
                    position INTEGER NOT NULL, PRIMARY KEY (peer_id, protocol));
                CREATE TABLE metadata (peer_id BLOB NOT NULL REFERENCES peers(peer_id) ON DELETE CASCADE, key TEXT NOT NULL,
                    value TEXT NOT NULL, PRIMARY KEY (peer_id, key));
                INSERT INTO peers (peer_id) VALUES ($peer);
                INSERT INTO protocols VALUES ($peer, '/x/1', 0);
                PRAGMA user_version = 1;
                """;
            command.Parameters.AddWithValue("$peer", peer.ToBytes());
            command.ExecuteNonQuery();
        }
        using var store = new SqlitePeerStore(DatabasePath);
        Assert.Equal(["/x/1"], store.GetProtocols(peer));
        store.AddAddresses(peer, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/1")], TimeSpan.FromHours(1));
        Assert.Single(store.GetAddresses(peer));
    }

    [Fact]
    public void NewerSchemaIsRefused()
    {
        using (new SqlitePeerStore(DatabasePath)) { }
        using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99;";
            command.ExecuteNonQuery();
        }
        var error = Assert.Throws<InvalidOperationException>(() => new SqlitePeerStore(DatabasePath));
        Assert.Contains("99", error.Message);
    }

    [Fact]
    public void UseAfterDisposeThrows()
    {
        var store = new SqlitePeerStore(DatabasePath);
        store.Dispose();
        Assert.Throws<ObjectDisposedException>(() => store.SetProtocols(PeerId.FromPublicKey(PrivateKey.Generate().PublicKey), ["/x"]));
    }

    [Fact]
    public void AddSqlitePeerStoreReplacesTheInMemoryStore()
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p => p2p.AddSqlitePeerStore(DatabasePath));
        using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IPeerStore>();
        Assert.IsType<SqlitePeerStore>(store);
        Assert.True(File.Exists(DatabasePath));
    }
}

/// <summary>Deferred writes: queued, committed together, seen by every read, never lost on dispose.</summary>
public sealed class SqlitePeerStoreDeferredWriteTests : IDisposable
{
    private static readonly TimeSpan Never = SqlitePeerStore.MaxWriteDelay; // longer than any of these tests
    private readonly TempDirectory _directory = new();

    private string DatabasePath => Path.Combine(_directory.Path, "peers.db");

    public void Dispose() => _directory.Dispose();

    private SqlitePeerStore Open(TimeSpan writeDelay, int maxPending = 512) =>
        new(new SqlitePeerStoreOptions { Path = DatabasePath, WriteDelay = writeDelay, MaxPendingWrites = maxPending });

    private static (PeerId Peer, PrivateKey Key) NewPeer()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        return (PeerId.FromPublicKey(key.PublicKey), key);
    }

    /// <summary>What another connection to the file sees: only committed writes.</summary>
    private long CommittedRows(string table)
    {
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM {table};";
        return (long)command.ExecuteScalar()!;
    }

    [Fact]
    public void WritesOfANewConnectionWaitAndAreCommittedTogether()
    {
        var (peer, key) = NewPeer();
        using var store = Open(Never);
        store.AddPublicKey(peer, key.PublicKey);
        store.AddAddresses(peer, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")], TimeSpan.FromMinutes(30));
        store.SetProtocols(peer, ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]);
        store.SetMetadata(peer, "AgentVersion", "test/1");
        store.RecordLatency(peer, TimeSpan.FromMilliseconds(3));
        Assert.Equal(5, store.PendingWrites);
        Assert.Equal(0, CommittedRows("peers"));

        store.Flush();
        Assert.Equal(0, store.PendingWrites);
        Assert.Equal(1, CommittedRows("peers"));
        Assert.Equal(1, CommittedRows("addresses"));
        Assert.Equal(2, CommittedRows("protocols"));
    }

    [Fact]
    public void EveryReadSeesTheWritesBeforeIt()
    {
        var (peer, key) = NewPeer();
        using var store = Open(Never);
        store.AddPublicKey(peer, key.PublicKey);
        Assert.Equal(key.PublicKey, store.GetPublicKey(peer));
        store.SetProtocols(peer, ["/a"]);
        Assert.Equal(["/a"], store.GetProtocols(peer));
        store.SetMetadata(peer, "k", "v");
        Assert.Equal("v", store.GetMetadata(peer, "k"));
        store.RecordLatency(peer, TimeSpan.FromMilliseconds(9));
        Assert.Equal(TimeSpan.FromMilliseconds(9), store.GetLatency(peer)!.Current);
        store.SetAddresses(peer, [Multiaddr.Parse("/ip4/192.0.2.9/tcp/1")], TimeSpan.FromHours(1));
        Assert.Equal([Multiaddr.Parse("/ip4/192.0.2.9/tcp/1")], store.GetAddresses(peer));
        store.RemovePeer(peer);
        Assert.DoesNotContain(peer, store.Peers);
        Assert.Equal(0, store.PendingWrites);
    }

    [Fact]
    public void WritesAreCommittedAfterTheDelayWithoutARead()
    {
        var (peer, key) = NewPeer();
        using var store = Open(TimeSpan.FromMilliseconds(1));
        store.AddPublicKey(peer, key.PublicKey);
        // A hang guard, not a timing assertion: the timer commits the write without any read.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (CommittedRows("peers") == 0 && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.Equal(1, CommittedRows("peers"));
        Assert.Equal(0, store.PendingWrites);
    }

    [Fact]
    public void TheWriteThatFillsTheQueueCommitsIt()
    {
        var (peer, key) = NewPeer();
        using var store = Open(Never, maxPending: 3);
        store.AddPublicKey(peer, key.PublicKey);
        store.SetMetadata(peer, "a", "1");
        Assert.Equal(2, store.PendingWrites);
        store.SetMetadata(peer, "b", "2");
        Assert.Equal(0, store.PendingWrites);
        Assert.Equal(2, CommittedRows("metadata"));
    }

    [Fact]
    public void ARecordIsCommittedWithTheWritesQueuedBeforeIt()
    {
        var (peer, key) = NewPeer();
        using var store = Open(Never);
        store.AddPublicKey(peer, key.PublicKey);
        store.SetMetadata(peer, "AgentVersion", "test/1");
        var record = new PeerRecord(peer, 7, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]);
        Assert.True(store.ConsumePeerRecord(record.Seal(key), record, TimeSpan.FromHours(1)));
        Assert.Equal(0, store.PendingWrites);
        Assert.Equal(1, CommittedRows("metadata"));
        Assert.Equal(1, CommittedRows("addresses"));
        Assert.False(store.ConsumePeerRecord(record.Seal(key), record, TimeSpan.FromHours(1)));
    }

    [Fact]
    public void DisposeCommitsWhatIsQueued()
    {
        var (peer, key) = NewPeer();
        using (var store = Open(Never))
        {
            store.AddPublicKey(peer, key.PublicKey);
            store.SetProtocols(peer, ["/x"]);
            Assert.Equal(2, store.PendingWrites);
        }
        using var reopened = Open(Never);
        Assert.Equal(key.PublicKey, reopened.GetPublicKey(peer));
        Assert.Equal(["/x"], reopened.GetProtocols(peer));
    }

    [Fact]
    public void AQueuedAddressExpiresFromTheTimeItWasAdded()
    {
        var time = new ManualTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var (peer, _) = NewPeer();
        using var store = new SqlitePeerStore(new SqlitePeerStoreOptions { Path = DatabasePath, WriteDelay = Never, TimeProvider = time });
        store.AddAddresses(peer, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")], TimeSpan.FromMinutes(10));
        time.Advance(TimeSpan.FromMinutes(11)); // committed only now, by the read
        Assert.Empty(store.GetAddresses(peer));
    }

    [Fact]
    public void InvalidArgumentsAreRefusedAtTheCallNotAtTheCommit()
    {
        var (peer, _) = NewPeer();
        var (_, otherKey) = NewPeer();
        using var store = Open(Never);
        Assert.Throws<ArgumentException>(() => store.AddPublicKey(peer, otherKey.PublicKey));
        Assert.Throws<ArgumentNullException>(() => store.AddAddresses(peer, [null!], TimeSpan.FromMinutes(1)));
        Assert.Throws<ArgumentNullException>(() => store.SetMetadata(peer, "k", null!));
        Assert.Equal(0, store.PendingWrites);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(11_000)]
    public void WriteDelayOutOfRangeIsRefused(int milliseconds) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Open(TimeSpan.FromMilliseconds(milliseconds)));
}

/// <summary>A record that is not newer than the stored one (identify on every new connection) commits nothing.</summary>
public sealed class SqlitePeerStoreRecordShortcutTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void The_same_record_again_is_refused_without_a_commit_and_after_removal_stored_again()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        var record = new PeerRecord(peer, 7, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]);
        var envelope = record.Seal(key);
        using var store = new SqlitePeerStore(new SqlitePeerStoreOptions
        {
            Path = Path.Combine(_directory.Path, "peers.db"),
            WriteDelay = SqlitePeerStore.MaxWriteDelay,
        });
        Assert.True(store.ConsumePeerRecord(envelope, record, TimeSpan.FromHours(1)));
        Assert.Equal(0, store.PendingWrites);

        Assert.False(store.ConsumePeerRecord(envelope, record, TimeSpan.FromHours(1)));
        var older = new PeerRecord(peer, 6, [Multiaddr.Parse("/ip4/192.0.2.6/tcp/4001")]);
        Assert.False(store.ConsumePeerRecord(older.Seal(key), older, TimeSpan.FromHours(1)));
        Assert.Equal(2, store.PendingWrites); // only the "last written" touches, queued
        Assert.Equal([Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")], store.GetAddresses(peer));

        var newer = new PeerRecord(peer, 8, [Multiaddr.Parse("/ip4/192.0.2.8/tcp/4001")]);
        Assert.True(store.ConsumePeerRecord(newer.Seal(key), newer, TimeSpan.FromHours(1)));
        Assert.Equal([Multiaddr.Parse("/ip4/192.0.2.8/tcp/4001")], store.GetAddresses(peer));

        store.RemovePeer(peer);
        Assert.True(store.ConsumePeerRecord(envelope, record, TimeSpan.FromHours(1))); // gone, so seq 7 is new again
        Assert.Equal(7UL, PeerRecord.FromEnvelope(store.GetPeerRecord(peer)!).Seq);
    }

    [Fact]
    public void A_record_whose_peer_queued_writes_may_evict_is_checked_against_the_database()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        var record = new PeerRecord(peer, 7, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]);
        using var store = new SqlitePeerStore(new SqlitePeerStoreOptions
        {
            Path = Path.Combine(_directory.Path, "peers.db"),
            WriteDelay = SqlitePeerStore.MaxWriteDelay,
            MaxPeers = 2,
        });
        Assert.True(store.ConsumePeerRecord(record.Seal(key), record, TimeSpan.FromHours(1)));
        // Two new peers, queued: committed, they take the store over its cap and the least recently written go.
        foreach (var other in new[] { PrivateKey.Generate(KeyType.Ed25519), PrivateKey.Generate(KeyType.Ed25519) })
            store.AddAddresses(PeerId.FromPublicKey(other.PublicKey), [Multiaddr.Parse("/ip4/192.0.2.2/tcp/1")], TimeSpan.FromHours(1));
        // As if each write had committed at once: the peer was forgotten, so its record is new again.
        Assert.True(store.ConsumePeerRecord(record.Seal(key), record, TimeSpan.FromHours(1)));
        Assert.NotNull(store.GetPeerRecord(peer));
    }
}
