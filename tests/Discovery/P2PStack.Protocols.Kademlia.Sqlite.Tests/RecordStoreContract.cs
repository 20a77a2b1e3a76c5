using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Sqlite.Tests.TestData;

namespace P2PStack.Protocols.Kademlia.Sqlite.Tests;

/// <summary>
/// What every <see cref="IDhtRecordStore"/> does. The in-memory store and the SQLite store both run it, so the node's
/// persistent store cannot drift from the library's default one.
/// </summary>
public abstract class RecordStoreContract : IDisposable
{
    protected abstract IDhtRecordStore CreateStore(RecordStoreLimits limits);

    protected abstract long TotalBytes(IDhtRecordStore store);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    private static DhtRecord Record(string key, int valueLength, DateTimeOffset? received = null, byte fill = 1) =>
        new(System.Text.Encoding.ASCII.GetBytes(key), Enumerable.Repeat(fill, valueLength).ToArray(), received ?? T0);

    [Fact]
    public async Task StoredRecordsComeBackWithTheirTimeReceived()
    {
        var store = CreateStore(new RecordStoreLimits());
        Assert.Null(await store.GetAsync("/a/missing"u8.ToArray(), default));
        await store.PutAsync(Record("/a/1", 3, T0.AddMinutes(5)), default);
        var got = await store.GetAsync("/a/1"u8.ToArray(), default);
        Assert.NotNull(got);
        Assert.Equal("/a/1"u8.ToArray(), got.Key);
        Assert.Equal(new byte[] { 1, 1, 1 }, got.Value);
        Assert.Equal(T0.AddMinutes(5), got.TimeReceived);
        Assert.Equal(1, await store.CountAsync(default));
    }

    [Fact]
    public async Task PuttingAnExistingKeyReplacesValueAndTime()
    {
        var store = CreateStore(new RecordStoreLimits());
        await store.PutAsync(Record("/a/1", 3), default);
        await store.PutAsync(Record("/a/1", 5, T0.AddHours(1), fill: 9), default);
        var got = await store.GetAsync("/a/1"u8.ToArray(), default);
        Assert.Equal(Enumerable.Repeat((byte)9, 5), got!.Value);
        Assert.Equal(T0.AddHours(1), got.TimeReceived);
        Assert.Equal(1, await store.CountAsync(default));
        Assert.Equal(4 + 5, TotalBytes(store));
    }

    [Fact]
    public async Task CountAndSizeLimitsAreEnforced()
    {
        var store = CreateStore(new RecordStoreLimits { MaxRecords = 2, MaxKeyLength = 8, MaxValueLength = 10, MaxTotalBytes = 25 });
        await store.PutAsync(Record("/a/1", 10), default);
        await store.PutAsync(Record("/a/2", 5), default);
        await store.PutAsync(Record("/a/2", 6), default); // replacing is allowed at the count limit
        Assert.Equal(24, TotalBytes(store));
        var full = await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(Record("/a/3", 1), default).AsTask());
        Assert.Contains("2 records", full.Message);
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(Record("/a/123456", 1), default).AsTask());
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(Record("/a/1", 11), default).AsTask());
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(new DhtRecord([], [1], T0), default).AsTask());
        var bytes = await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(Record("/a/2", 10), default).AsTask());
        Assert.Contains("bytes", bytes.Message);
        // A refused put changes nothing.
        Assert.Equal(6, (await store.GetAsync("/a/2"u8.ToArray(), default))!.Value.Length);
        Assert.Equal(24, TotalBytes(store));
        Assert.Equal(2, await store.CountAsync(default));
    }

    [Fact]
    public async Task APeerIsHeldToItsQuotaAndReplacingItsOwnRecordIsFine()
    {
        var store = CreateStore(new RecordStoreLimits { MaxRecordsPerPeer = 2 });
        var flooder = RandomPeer();
        var other = RandomPeer();
        await store.PutAsync(Record("/a/1", 1) with { Publisher = flooder }, default);
        await store.PutAsync(Record("/a/2", 1) with { Publisher = flooder }, default);
        await store.PutAsync(Record("/a/2", 2) with { Publisher = flooder }, default); // its own key again
        var refused = await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(Record("/a/3", 1) with { Publisher = flooder }, default).AsTask());
        Assert.Contains("limit per peer", refused.Message);
        await store.PutAsync(Record("/a/3", 1) with { Publisher = other }, default);
        Assert.Equal(other, (await store.GetAsync("/a/3"u8.ToArray(), default))!.Publisher);
        // Another peer taking over one of its keys frees a place of its quota.
        await store.PutAsync(Record("/a/1", 1) with { Publisher = other }, default);
        await store.PutAsync(Record("/a/4", 1) with { Publisher = flooder }, default);
        Assert.Equal(4, await store.CountAsync(default));
    }

    [Fact]
    public async Task OwnRecordsDisplaceTheOldestOfTheBiggestRemotePublisherWhenFull()
    {
        var store = CreateStore(new RecordStoreLimits { MaxRecords = 3 });
        var big = RandomPeer();
        var small = RandomPeer();
        await store.PutAsync(Record("/a/b1", 1, T0.AddMinutes(1)) with { Publisher = big }, default);
        await store.PutAsync(Record("/a/b2", 1, T0) with { Publisher = big }, default);
        await store.PutAsync(Record("/a/s1", 1, T0) with { Publisher = small }, default);
        await Assert.ThrowsAsync<DhtStoreLimitException>(() => store.PutAsync(Record("/a/x", 1) with { Publisher = small }, default).AsTask());

        await store.PutAsync(Record("/a/own", 1), default);
        Assert.Null(await store.GetAsync("/a/b2"u8.ToArray(), default)); // big's oldest
        Assert.NotNull(await store.GetAsync("/a/b1"u8.ToArray(), default));
        Assert.NotNull(await store.GetAsync("/a/s1"u8.ToArray(), default));
        Assert.NotNull(await store.GetAsync("/a/own"u8.ToArray(), default));
        Assert.Equal(3, await store.CountAsync(default));
        Assert.Equal(6 + 6 + 7, TotalBytes(store)); // b1, s1 and own
    }

    [Fact]
    public async Task RemovingFreesCountAndBytes()
    {
        var store = CreateStore(new RecordStoreLimits { MaxRecords = 1 });
        await store.PutAsync(Record("/a/1", 10), default);
        Assert.True(await store.RemoveAsync("/a/1"u8.ToArray(), default));
        Assert.False(await store.RemoveAsync("/a/1"u8.ToArray(), default));
        Assert.Equal(0, TotalBytes(store));
        Assert.Equal(0, await store.CountAsync(default));
        await store.PutAsync(Record("/a/2", 1), default); // room again
    }

    [Fact]
    public async Task ExpiryRemovesRecordsReceivedStrictlyBefore()
    {
        var store = CreateStore(new RecordStoreLimits());
        await store.PutAsync(Record("/a/old", 1, T0), default);
        await store.PutAsync(Record("/a/edge", 2, T0.AddHours(1)), default);
        await store.PutAsync(Record("/a/new", 3, T0.AddHours(47)), default);
        Assert.Equal(1, await store.RemoveExpiredAsync(T0.AddHours(1), default));
        Assert.Null(await store.GetAsync("/a/old"u8.ToArray(), default));
        Assert.NotNull(await store.GetAsync("/a/edge"u8.ToArray(), default));
        Assert.Equal(2, await store.CountAsync(default));
        Assert.Equal(7 + 2 + 6 + 3, TotalBytes(store));
        Assert.Equal(0, await store.RemoveExpiredAsync(T0, default));
    }
}

public sealed class InMemoryRecordStoreContractTests : RecordStoreContract
{
    protected override IDhtRecordStore CreateStore(RecordStoreLimits limits) => new InMemoryRecordStore(limits);

    protected override long TotalBytes(IDhtRecordStore store) => ((InMemoryRecordStore)store).TotalBytes;
}

public sealed class SqliteRecordStoreContractTests : RecordStoreContract
{
    private readonly string _path = TempDatabase();
    private KademliaSqliteDatabase? _db;

    protected override IDhtRecordStore CreateStore(RecordStoreLimits limits)
    {
        _db ??= new KademliaSqliteDatabase(_path);
        return new SqliteRecordStore(_db, limits);
    }

    protected override long TotalBytes(IDhtRecordStore store) => ((SqliteRecordStore)store).TotalBytes;

    public override void Dispose()
    {
        _db?.Dispose();
        DeleteDatabase(_path);
        base.Dispose();
    }
}
