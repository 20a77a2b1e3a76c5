using P2PStack.Privacy.Onion.Crypto;

namespace P2PStack.Privacy.Onion.Tests.Crypto;

/// <summary>Ephemeral keys generated ahead: each handed out once, at most the capacity waiting, generated on the spot
/// when none waits, erased when the pool is disposed.</summary>
public class PreparedKeysTests
{
    private sealed class Key : IDisposable
    {
        private static int s_next;

        public int Id { get; } = Interlocked.Increment(ref s_next);

        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    [Fact]
    public async Task A_refill_fills_up_to_the_capacity_and_every_key_is_handed_out_once()
    {
        var generated = new List<Key>();
        using var pool = new PreparedKeys<Key>(() => { var k = new Key(); lock (generated) generated.Add(k); return k; }, capacity: 4);
        Assert.Equal(0, pool.Count);
        var first = pool.Take(); // none waits: generated on the spot, no refill by itself
        Assert.Single(generated);
        Assert.Equal(0, pool.Count);

        pool.Refill();
        await pool.Refilling.WaitAsync(Patience);
        Assert.Equal(4, pool.Count); // never past the capacity
        Assert.Equal(5, generated.Count);

        var taken = Enumerable.Range(0, 6).Select(_ => pool.Take()).Append(first).ToList();
        Assert.Equal(taken.Count, taken.Select(k => k.Id).Distinct().Count()); // none handed out twice
        Assert.Equal(7, generated.Count); // four from the pool, two generated when it was empty
    }

    [Fact]
    public async Task Disposing_erases_the_keys_still_waiting_and_a_pool_of_capacity_zero_holds_none()
    {
        var generated = new List<Key>();
        var pool = new PreparedKeys<Key>(() => { var k = new Key(); lock (generated) generated.Add(k); return k; }, capacity: 3);
        pool.Refill();
        await pool.Refilling.WaitAsync(Patience);
        Assert.Equal(3, pool.Count);
        var held = pool.Take();
        // What the pool holds now is disposed by its Dispose; the key taken before belongs to its taker.
        pool.Dispose();
        Assert.Equal(0, pool.Count);
        Assert.False(held.Disposed);
        Assert.Equal(3, generated.Count);
        Assert.All(generated.Where(k => k != held), k => Assert.True(k.Disposed));
        pool.Refill(); // no refill after the end
        await pool.Refilling.WaitAsync(Patience);
        Assert.Equal(0, pool.Count);
        Assert.Equal(3, generated.Count);

        int noneGenerated = 0;
        using var none = new PreparedKeys<Key>(() => { Interlocked.Increment(ref noneGenerated); return new Key(); }, capacity: 0);
        none.Refill();
        await none.Refilling.WaitAsync(Patience);
        Assert.Equal(0, none.Count);
        Assert.Equal(0, noneGenerated);
        Assert.NotNull(none.Take());
        Assert.Equal(1, noneGenerated);
    }

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
}
