using Microsoft.Extensions.Options;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

public class ShadowAddressPoolTests
{
    private static (ShadowAddressPool Pool, ManualTime Time, ShadowMetrics Metrics) Create(Action<ShadowPoolOptions>? configure = null)
    {
        var options = new ShadowPoolOptions { MaxUses = 3, Lifetime = TimeSpan.FromHours(1), GracePeriod = TimeSpan.FromMinutes(10), MaxAddresses = 2 };
        configure?.Invoke(options);
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000));
        var metrics = new ShadowMetrics(null);
        return (new ShadowAddressPool(Options.Create(options), metrics, time), time, metrics);
    }

    [Fact]
    public void An_address_rotates_after_its_uses_and_the_old_one_stays_for_the_grace_period()
    {
        var (pool, time, metrics) = Create();
        var first = pool.Generate();
        Assert.True(pool.RecordUse(first));
        Assert.True(pool.RecordUse(first));
        Assert.Single(pool.List());
        Assert.True(pool.RecordUse(first)); // the third use reaches MaxUses
        var entries = pool.List();
        Assert.Equal(2, entries.Count);
        var old = entries.Single(e => e.Address.Equals(first));
        Assert.Equal(ShadowAddressState.Retiring, old.State);
        Assert.Equal(time.Now + TimeSpan.FromMinutes(10), old.RetiresAt);
        var fresh = entries.Single(e => e.State == ShadowAddressState.Active);
        Assert.NotEqual(first, fresh.Address);
        Assert.Equal(1, metrics.Rotations);
        // Its descriptors are capped at the end of the grace period.
        Assert.Contains(pool.Publishable(), p => p.Key.Address.Equals(first) && p.NotAfter == old.RetiresAt);

        time.Now += TimeSpan.FromMinutes(10);
        Assert.Equal([fresh.Address], pool.List().Select(e => e.Address));
        Assert.False(pool.RecordUse(first));
        Assert.Null(pool.KeyOf(first));
    }

    [Fact]
    public void An_address_rotates_after_its_lifetime()
    {
        var (pool, time, metrics) = Create();
        var first = pool.Generate();
        time.Now += TimeSpan.FromMinutes(59);
        Assert.Equal(ShadowAddressState.Active, pool.List().Single().State);
        time.Now += TimeSpan.FromMinutes(1);
        var entries = pool.List();
        Assert.Equal(ShadowAddressState.Retiring, entries.Single(e => e.Address.Equals(first)).State);
        Assert.Single(entries, e => e.State == ShadowAddressState.Active);
        Assert.Equal(1, metrics.Rotations);
    }

    [Fact]
    public void Rotate_on_demand_revoke_and_the_pool_limit()
    {
        var (pool, _, _) = Create();
        var a = pool.Generate();
        var b = pool.Generate();
        Assert.Throws<InvalidOperationException>(() => pool.Generate());
        var c = pool.Rotate(a);
        Assert.NotEqual(a, c);
        Assert.Throws<InvalidOperationException>(() => pool.Rotate(a));
        Assert.Throws<KeyNotFoundException>(() => pool.Rotate(ShadowKey.Generate().Address));
        Assert.True(pool.Revoke(b));
        Assert.False(pool.Revoke(b));
        Assert.DoesNotContain(pool.Publishable(), p => p.Key.Address.Equals(b));
        Assert.Equal(3 - 1, pool.List().Count); // a (retiring) and c
    }
}
