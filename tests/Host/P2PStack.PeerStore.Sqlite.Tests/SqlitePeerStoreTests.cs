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
            // One file for the default store (the contract's Store may be created by two threads at once).
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
