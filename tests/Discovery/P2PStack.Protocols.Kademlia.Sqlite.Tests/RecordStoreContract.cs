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
