using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Sqlite.Tests.TestData;

namespace P2PStack.Protocols.Kademlia.Sqlite.Tests;

/// <summary>What only the SQLite stores do: survive a restart, refuse a newer schema, and plug into the DHT.</summary>
public sealed class SqliteStoreTests : IDisposable
{
    private readonly string _path = TempDatabase();

    public void Dispose() => DeleteDatabase(_path);

    [Fact]
    public async Task RecordsProvidersAndTheirLimitsSurviveAReopen()
    {
        var limits = new RecordStoreLimits { MaxRecords = 2, MaxTotalBytes = 100 };
        var provider = RandomPeer();
        var address = Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001");
        using (var db = new KademliaSqliteDatabase(_path))
        {
            var records = new SqliteRecordStore(db, limits);
            await records.PutAsync(new DhtRecord("/a/1"u8.ToArray(), [1, 2, 3], T0), default);
            await records.PutAsync(new DhtRecord("/a/2"u8.ToArray(), [4], T0.AddHours(1)), default);
            await new SqliteProviderStore(db, new ProviderStoreLimits()).AddProviderAsync(ProviderKey(7), new ProviderRecord(provider, [address], T0), default);
        }

        using (var db = new KademliaSqliteDatabase(_path))
        {
            var records = new SqliteRecordStore(db, limits);
            Assert.Equal(2, await records.CountAsync(default));
            Assert.Equal(4 + 3 + 4 + 1, records.TotalBytes);
            var got = await records.GetAsync("/a/1"u8.ToArray(), default);
            Assert.Equal(new byte[] { 1, 2, 3 }, got!.Value);
            Assert.Equal(T0, got.TimeReceived);
            // The count limit still applies after the restart.
            await Assert.ThrowsAsync<DhtStoreLimitException>(() => records.PutAsync(new DhtRecord("/a/3"u8.ToArray(), [1], T0), default).AsTask());

            var providers = new SqliteProviderStore(db, new ProviderStoreLimits { MaxKeys = 1 });
            var found = Assert.Single(await providers.GetProvidersAsync(ProviderKey(7), T0, default));
            Assert.Equal(provider, found.Provider);
            Assert.Equal([address], found.Addresses);
            await Assert.ThrowsAsync<DhtStoreLimitException>(() =>
                providers.AddProviderAsync(ProviderKey(8), new ProviderRecord(provider, [address], T0), default).AsTask());
        }
    }

    /// <summary>A database of schema 1 (before per-peer quotas and provider ages) opens and keeps its data: its records
    /// count as the node's own, its providers' first announcement is their last one.</summary>
    [Fact]
    public async Task ASchemaOneDatabaseIsUpgraded()
    {
        var provider = RandomPeer();
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        using (var connection = new SqliteConnection($"Data Source={_path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE records (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL, received INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX records_received ON records(received);
                CREATE TABLE providers (key BLOB NOT NULL, provider BLOB NOT NULL, addresses BLOB NOT NULL, received INTEGER NOT NULL,
                    UNIQUE (key, provider));
                CREATE INDEX providers_received ON providers(received);
                CREATE INDEX providers_provider ON providers(provider);
                INSERT INTO records VALUES (x'2F612F31', x'010203', $t0);
                INSERT INTO providers VALUES ($key, $provider, x'', $t0);
                PRAGMA user_version = 1;
                """;
            command.Parameters.AddWithValue("$t0", T0.UtcTicks);
            command.Parameters.AddWithValue("$key", ProviderKey(7));
            command.Parameters.AddWithValue("$provider", provider.ToBytes());
            command.ExecuteNonQuery();
        }

        using var db = new KademliaSqliteDatabase(_path);
        var records = new SqliteRecordStore(db, new RecordStoreLimits());
        var record = await records.GetAsync("/a/1"u8.ToArray(), default);
        Assert.Equal(new byte[] { 1, 2, 3 }, record!.Value);
        Assert.Null(record.Publisher);
        await records.PutAsync(new DhtRecord("/a/2"u8.ToArray(), [4], T0, RandomPeer()), default);
        var providers = new SqliteProviderStore(db, new ProviderStoreLimits { MaxProvidersPerKey = 2 });
        var second = RandomPeer();
        var third = RandomPeer();
        await providers.AddProviderAsync(ProviderKey(7), new ProviderRecord(second, [], T0.AddMinutes(1)), default);
        await providers.AddProviderAsync(ProviderKey(7), new ProviderRecord(third, [], T0.AddMinutes(2)), default);
        // The upgraded provider counts as first seen at its last announcement (T0), older than both newcomers.
        Assert.Equal([third, provider], (await providers.GetProvidersAsync(ProviderKey(7), T0, default)).Select(p => p.Provider));
        db.Dispose();
        using var reopened = new SqliteConnection($"Data Source={_path};Pooling=False");
        reopened.Open();
        using var firstSeen = reopened.CreateCommand();
        firstSeen.CommandText = "SELECT first_seen FROM providers WHERE provider = $p;";
        firstSeen.Parameters.AddWithValue("$p", provider.ToBytes());
        Assert.Equal(T0.UtcTicks, (long)firstSeen.ExecuteScalar()!);
    }

    [Fact]
    public void ADatabaseFromANewerBuildIsRefused()
    {
        using (new KademliaSqliteDatabase(_path)) { }
        using (var connection = new SqliteConnection($"Data Source={_path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99;";
            command.ExecuteNonQuery();
        }
        var error = Assert.Throws<InvalidOperationException>(() => new KademliaSqliteDatabase(_path));
        Assert.Contains("schema version 99", error.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheExtensionReplacesTheInMemoryStoresWhicheverComesFirst(bool storesFirst)
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p =>
        {
            p2p.WithIdentity(PrivateKey.Generate(KeyType.Ed25519));
            if (storesFirst) p2p.AddKademliaSqliteStores(_path);
            p2p.AddKademlia(o => o.RecordLimits.MaxRecords = 3);
            if (!storesFirst) p2p.AddKademliaSqliteStores(_path);
        });
        using var provider = services.BuildServiceProvider();
        Assert.IsType<SqliteRecordStore>(provider.GetRequiredService<IDhtRecordStore>());
        Assert.IsType<SqliteProviderStore>(provider.GetRequiredService<IProviderStore>());
        Assert.Equal(Path.GetFullPath(_path), provider.GetRequiredService<KademliaSqliteDatabase>().Path);
        Assert.True(File.Exists(_path));
    }

    [Fact]
    public void WithoutTheExtensionTheStoresStayInMemory()
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p => p2p.WithIdentity(PrivateKey.Generate(KeyType.Ed25519)).AddKademlia());
        using var provider = services.BuildServiceProvider();
        Assert.IsType<InMemoryRecordStore>(provider.GetRequiredService<IDhtRecordStore>());
        Assert.IsType<InMemoryProviderStore>(provider.GetRequiredService<IProviderStore>());
    }

    /// <summary>
    /// Random operation sequences (seeded) against both stores side by side: every answer, error and total must be
    /// the same, so the SQLite store is the in-memory store's twin, not an approximation.
    /// </summary>
    [Fact]
    public async Task RandomOperationsGiveTheSameResultsAsTheInMemoryStores()
    {
        var recordLimits = new RecordStoreLimits { MaxRecords = 6, MaxKeyLength = 6, MaxValueLength = 12, MaxTotalBytes = 60 };
        var providerLimits = new ProviderStoreLimits { MaxKeys = 3, MaxProvidersPerKey = 3, MaxAddressesPerProvider = 2, MaxKeyLength = 34 };
        using var db = new KademliaSqliteDatabase(_path);
        for (int seed = 0; seed < 20; seed++)
        {
            var random = new Random(seed);
            // One database for all seeds: emptied between them.
            await ClearAsync(db);
            var memRecords = new InMemoryRecordStore(recordLimits);
            var sqlRecords = new SqliteRecordStore(db, recordLimits);
            var memProviders = new InMemoryProviderStore(providerLimits);
            var sqlProviders = new SqliteProviderStore(db, providerLimits);
            PeerId[] peers = [.. Enumerable.Range(0, 5).Select(_ => RandomPeer(random))];
            Multiaddr[] addresses = [Multiaddr.Parse("/ip4/10.0.0.1/tcp/1"), Multiaddr.Parse("/ip4/10.0.0.2/tcp/2"), Multiaddr.Parse("/ip6/::1/tcp/3")];
            for (int step = 0; step < 150; step++)
            {
                string context = $"seed {seed}, step {step}";
                // Time moves forward, as a node's clock does: no two announcements tie (tie order is unspecified).
                var time = T0.AddSeconds(step);
                var threshold = T0.AddSeconds(random.Next(0, step + 1));
                byte[] recordKey = System.Text.Encoding.ASCII.GetBytes($"/k/{random.Next(0, random.Next(2) == 0 ? 9 : 1000)}");
                byte[] providerKey = random.Next(10) == 0 ? new byte[35] : ProviderKey((byte)random.Next(0, 5));
                switch (random.Next(7))
                {
                    case 0:
                    case 1:
                        var record = new DhtRecord(recordKey, new byte[random.Next(0, 14)], time);
                        random.NextBytes(record.Value);
                        await Same(context, () => memRecords.PutAsync(record, default).AsTask(), () => sqlRecords.PutAsync(record, default).AsTask());
                        break;
                    case 2:
                        Assert.Equal(await memRecords.RemoveAsync(recordKey, default), await sqlRecords.RemoveAsync(recordKey, default));
                        break;
                    case 3:
                        Assert.Equal(await memRecords.RemoveExpiredAsync(threshold, default), await sqlRecords.RemoveExpiredAsync(threshold, default));
                        Assert.Equal(await memProviders.RemoveExpiredAsync(threshold, default), await sqlProviders.RemoveExpiredAsync(threshold, default));
                        break;
                    case 4:
                    case 5:
                        var announcement = new ProviderRecord(peers[random.Next(peers.Length)], [.. addresses.Take(random.Next(0, 4))], time);
                        await Same(context, () => memProviders.AddProviderAsync(providerKey, announcement, default).AsTask(),
                            () => sqlProviders.AddProviderAsync(providerKey, announcement, default).AsTask());
                        break;
                    default:
                        var expected = await memProviders.GetProvidersAsync(providerKey, threshold, default);
                        var actual = await sqlProviders.GetProvidersAsync(providerKey, threshold, default);
                        Assert.Equal(expected.Select(p => (p.Provider, p.ReceivedAt, string.Join(' ', p.Addresses))),
                            actual.Select(p => (p.Provider, p.ReceivedAt, string.Join(' ', p.Addresses))));
                        break;
                }
                var mine = await memRecords.GetAsync(recordKey, default);
                var theirs = await sqlRecords.GetAsync(recordKey, default);
                Assert.Equal(mine?.Value, theirs?.Value);
                Assert.Equal(mine?.TimeReceived, theirs?.TimeReceived);
                Assert.Equal(await memRecords.CountAsync(default), await sqlRecords.CountAsync(default));
                Assert.Equal(memRecords.TotalBytes, sqlRecords.TotalBytes);
            }
        }
    }

    // Both calls succeed, or both fail with the same exception type and message.
    private static async Task Same(string context, Func<Task> expected, Func<Task> actual)
    {
        Exception? e1 = null, e2 = null;
        try { await expected(); } catch (Exception e) { e1 = e; }
        try { await actual(); } catch (Exception e) { e2 = e; }
        Assert.True(e1?.GetType() == e2?.GetType(), $"{context}: in memory {e1?.Message ?? "ok"}, SQLite {e2?.Message ?? "ok"}");
        Assert.Equal(e1?.Message, e2?.Message);
    }

    private static async Task ClearAsync(KademliaSqliteDatabase db)
    {
        var records = new SqliteRecordStore(db, new RecordStoreLimits());
        var providers = new SqliteProviderStore(db, new ProviderStoreLimits());
        await records.RemoveExpiredAsync(DateTimeOffset.MaxValue, default);
        await providers.RemoveExpiredAsync(DateTimeOffset.MaxValue, default);
    }
}
