using Microsoft.Extensions.DependencyInjection;
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
        var (pool, time, metrics) = Create(o => o.GraceJitter = TimeSpan.Zero); // the random grace end: below
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

    [Fact]
    public void The_pool_keeps_its_size_replacing_revoked_addresses_with_staggered_lifetimes()
    {
        var (pool, time, _) = Create(o =>
        {
            o.PoolSize = 20;
            o.MaxAddresses = 21;
        });
        var start = time.Now;
        var entries = pool.List();
        Assert.Equal(20, entries.Count);
        Assert.All(entries, e => Assert.Equal(ShadowAddressState.Active, e.State));
        // Lifetimes drawn in [Lifetime/2, Lifetime]: added together, they do not rotate together.
        Assert.All(entries, e => Assert.InRange(e.RotateAt, start + TimeSpan.FromMinutes(30), start + TimeSpan.FromHours(1)));
        Assert.True(entries.Select(e => e.RotateAt).Distinct().Count() > 10, "the lifetimes are not staggered");

        // A revoked address is replaced at once by a fresh one; the cap still holds for generate.
        var revoked = entries[0].Address;
        Assert.True(pool.Revoke(revoked));
        var after = pool.List();
        Assert.Equal(20, after.Count);
        Assert.DoesNotContain(after, e => e.Address.Equals(revoked));
        pool.Generate();
        var full = Assert.Throws<InvalidOperationException>(() => pool.Generate());
        Assert.Contains("pool is full (21 active addresses", full.Message);

        // At the earliest RotateAt only that one rotates; the size of the active pool stays.
        var first = after.MinBy(e => e.RotateAt)!;
        time.Now = first.RotateAt;
        var rotated = pool.List();
        Assert.Equal(ShadowAddressState.Retiring, rotated.Single(e => e.Address.Equals(first.Address)).State);
        Assert.Equal(21, rotated.Count(e => e.State == ShadowAddressState.Active));
        Assert.Equal(1, rotated.Count(e => e.State == ShadowAddressState.Retiring));
    }

    [Fact]
    public void The_pool_size_is_validated_against_the_cap()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(o => o.PoolSize = 3)); // MaxAddresses = 2
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(o => o.PoolSize = -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(o => o.GraceJitter = TimeSpan.FromSeconds(-1)));
        var (pool, _, _) = Create(); // PoolSize 0 by default: nothing added by itself
        Assert.Empty(pool.List());
    }

    [Fact]
    public void The_whole_grace_with_its_random_extra_is_at_most_one_period()
    {
        var hourPeriods = Options.Create(new ShadowOptions { PeriodLength = TimeSpan.FromHours(1) });
        ShadowAddressPool Pool(TimeSpan grace, TimeSpan? jitter) =>
            new(Options.Create(new ShadowPoolOptions { GracePeriod = grace, GraceJitter = jitter }), new ShadowMetrics(null), null, hourPeriods);

        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => Pool(TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(20)));
        Assert.Contains("at most one period", refused.Message);
        // A grace of one period leaves no room for the default random extra (a quarter of it): zero it, or shorten the grace.
        Assert.Throws<ArgumentOutOfRangeException>(() => Pool(TimeSpan.FromHours(1), null));
        Assert.NotNull(Pool(TimeSpan.FromHours(1), TimeSpan.Zero));
        Assert.NotNull(Pool(TimeSpan.FromMinutes(48), null)); // 48 + 12 min: exactly one period
        Assert.NotNull(Pool(TimeSpan.FromMinutes(10), null)); // the defaults: 10 + 2.5 min

        // The node's composition (AddShadowAddresses) hands the pool the network's period.
        var services = new ServiceCollection();
        new P2PBuilder(services).AddShadowAddresses(o => o.PeriodLength = TimeSpan.FromMinutes(30));
        services.Configure<ShadowPoolOptions>(o => o.GracePeriod = TimeSpan.FromMinutes(25)); // + 6.25 min of default jitter
        using var provider = services.BuildServiceProvider();
        Assert.Throws<ArgumentOutOfRangeException>(() => provider.GetRequiredService<ShadowAddressPool>());
    }

    [Fact]
    public void A_rotated_address_retires_at_a_random_moment_after_its_grace_period()
    {
        var (pool, time, _) = Create(o =>
        {
            o.MaxAddresses = 40;
            o.GracePeriod = TimeSpan.FromMinutes(10);
        });
        var addresses = Enumerable.Range(0, 40).Select(_ => pool.Generate()).ToList();
        var rotatedAt = time.Now;
        foreach (var address in addresses) pool.Rotate(address);
        var ends = pool.List().Where(e => e.State == ShadowAddressState.Retiring).ToDictionary(e => e.Address, e => e.RetiresAt!.Value);
        Assert.Equal(40, ends.Count);
        // Uniform in [grace, grace + grace/4]: the close of the introduction circuits does not name the rotation moment.
        Assert.All(ends.Values, end => Assert.InRange(end, rotatedAt + TimeSpan.FromMinutes(10), rotatedAt + TimeSpan.FromMinutes(12.5)));
        Assert.True(ends.Values.Distinct().Count() > 20, "the grace ends are not random");
        Assert.Equal(ends.Values.Min(), pool.NextChange());

        // Each leaves the pool (and so stops being published, its introduction circuits closed) at its own end, not before.
        foreach (var (address, end) in ends.OrderBy(e => e.Value).Take(3))
        {
            time.Now = end - TimeSpan.FromTicks(1);
            Assert.Contains(pool.Publishable(), p => p.Key.Address.Equals(address));
            time.Now = end;
            Assert.DoesNotContain(pool.Publishable(), p => p.Key.Address.Equals(address));
        }
    }

    [Fact]
    public void Export_and_restore_keep_each_address_rotation_time()
    {
        var (pool, _, _) = Create(o => o.PoolSize = 2);
        pool.Sweep(); // fills the pool
        var exported = pool.Export();
        Assert.Equal(2, exported.Count);
        var (restored, _, _) = Create();
        foreach (var (key, created, uses, retiresAt, rotateAt) in exported) restored.Restore(key, created, uses, retiresAt, rotateAt);
        Assert.Equal(exported.Select(e => (e.Key.Address.ToUri(), e.RotateAt)).Order(),
            restored.List().Select(e => (e.Address.ToUri(), e.RotateAt)).Order());
        Assert.NotEqual(exported[0].RotateAt, exported[1].RotateAt);
    }
}
