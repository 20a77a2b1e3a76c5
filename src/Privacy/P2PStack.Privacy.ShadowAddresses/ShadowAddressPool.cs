using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>The state of one address of the pool.</summary>
public enum ShadowAddressState
{
    /// <summary>Published and handed out.</summary>
    Active,

    /// <summary>Replaced by a rotation: still published (and reachable) until its grace period ends.</summary>
    Retiring,
}

/// <summary>One address of the pool, as listed.</summary>
public sealed record ShadowAddressEntry(ShadowAddress Address, ShadowAddressState State, DateTimeOffset Created, long Uses,
    DateTimeOffset RotateAt, DateTimeOffset? RetiresAt);

/// <summary>
/// The service's pool of shadow addresses (docs/specs/shadow.md, section 6): each with its own key and lifetime; an
/// address is rotated after <see cref="ShadowPoolOptions.MaxUses"/> uses or its lifetime, replaced by a fresh
/// independent key; the old one stays published for <see cref="ShadowPoolOptions.GracePeriod"/> plus a random
/// <see cref="ShadowPoolOptions.GraceJitter"/> and then leaves the pool (its descriptors keep their ordinary expiry, and the
/// publisher supersedes them by retirement records when it leaves). The pool keeps at least <see cref="ShadowPoolOptions.PoolSize"/> active addresses (a revoked one is
/// replaced; those it adds get lifetimes staggered at random) and at most <see cref="ShadowPoolOptions.MaxAddresses"/>.
/// Thread-safe. Given the network's <see cref="ShadowOptions.PeriodLength"/> (<paramref name="shadow"/>, as
/// <c>AddShadowAddresses</c> does), it refuses a grace that could pass one period.
/// </summary>
public sealed class ShadowAddressPool(IOptions<ShadowPoolOptions> options, ShadowMetrics metrics, TimeProvider? time = null,
    IOptions<ShadowOptions>? shadow = null)
{
    private readonly ShadowPoolOptions _options = Validated(options.Value, shadow?.Value.PeriodLength);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _gate = new();
    private readonly List<Slot> _slots = [];

    private sealed class Slot(ShadowKey key, DateTimeOffset created, DateTimeOffset rotateAt)
    {
        public ShadowKey Key { get; } = key;
        public DateTimeOffset Created { get; } = created;
        public DateTimeOffset RotateAt { get; } = rotateAt;
        public long Uses { get; set; }
        public DateTimeOffset? RetiresAt { get; set; }
    }

    /// <summary>Raised (outside the pool's lock) after an address was added, rotated, revoked or dropped: what to
    /// publish has changed.</summary>
    public event EventHandler? Changed;

    private void OnChanged() => Changed?.Invoke(this, EventArgs.Empty);

    private static ShadowPoolOptions Validated(ShadowPoolOptions options, TimeSpan? periodLength)
    {
        options.Validate(periodLength);
        return options;
    }

    /// <summary>Adds a new address; throws <see cref="InvalidOperationException"/> when the pool holds
    /// <see cref="ShadowPoolOptions.MaxAddresses"/> active addresses.</summary>
    public ShadowAddress Generate() => Add(ShadowKey.Generate());

    /// <summary>Adds an existing key (restored from storage).</summary>
    public ShadowAddress Add(ShadowKey key) => Restore(key, _time.GetUtcNow(), 0, null);

    /// <summary>Adds a key restored from storage with its creation time, uses, when it rotates (null: after
    /// <see cref="ShadowPoolOptions.Lifetime"/>) and, for a retiring address, the end of its grace period. An address
    /// already in the pool is refused (<see cref="InvalidOperationException"/>).</summary>
    public ShadowAddress Restore(ShadowKey key, DateTimeOffset created, long uses, DateTimeOffset? retiresAt, DateTimeOffset? rotateAt = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfNegative(uses);
        lock (_gate)
        {
            if (Find(key.Address) is not null) throw new InvalidOperationException($"{key.Address} is already in the pool");
            if (retiresAt is null && ActiveCount() >= _options.MaxAddresses)
                throw new InvalidOperationException(
                    $"the shadow address pool is full ({_options.MaxAddresses} active addresses, the most ShadowPoolOptions.MaxAddresses allows)");
            _slots.Add(new Slot(key, created, rotateAt ?? created + _options.Lifetime) { Uses = uses, RetiresAt = retiresAt });
        }
        OnChanged();
        return key.Address;
    }

    /// <summary>Replaces <paramref name="address"/> by a new address now; the old one retires after the grace period.
    /// Returns the new address.</summary>
    public ShadowAddress Rotate(ShadowAddress address)
    {
        ShadowAddress fresh;
        lock (_gate)
        {
            var slot = Find(address) ?? throw new KeyNotFoundException($"{address} is not in the pool");
            if (slot.RetiresAt is not null) throw new InvalidOperationException($"{address} was already rotated");
            fresh = RotateLocked(slot, _time.GetUtcNow());
        }
        OnChanged();
        return fresh;
    }

    /// <summary>Counts one use of <paramref name="address"/> (an introduction); rotates it when it reaches the limit.
    /// Returns false for an address not (or no longer) in the pool.</summary>
    public bool RecordUse(ShadowAddress address)
    {
        bool rotated = false;
        lock (_gate)
        {
            var slot = Find(address);
            if (slot is null) return false;
            slot.Uses++;
            if (slot.RetiresAt is null && slot.Uses >= _options.MaxUses)
            {
                RotateLocked(slot, _time.GetUtcNow());
                rotated = true;
            }
        }
        if (rotated) OnChanged();
        return true;
    }

    /// <summary>Removes <paramref name="address"/> at once: no longer published; its last descriptor stops resolving
    /// when it expires.</summary>
    public bool Revoke(ShadowAddress address)
    {
        bool removed;
        lock (_gate)
        {
            var slot = Find(address);
            removed = slot is not null && _slots.Remove(slot);
            if (removed) Fill(_time.GetUtcNow());
        }
        if (removed) OnChanged();
        return removed;
    }

    /// <summary>Rotates addresses past their lifetime, drops retired ones whose grace period is over, and adds
    /// addresses up to <see cref="ShadowPoolOptions.PoolSize"/> active ones.</summary>
    public void Sweep()
    {
        var now = _time.GetUtcNow();
        bool changed = false;
        lock (_gate)
        {
            foreach (var slot in _slots.Where(s => s.RetiresAt is null && now >= s.RotateAt).ToList())
            {
                RotateLocked(slot, now);
                changed = true;
            }
            changed |= _slots.RemoveAll(s => s.RetiresAt is { } end && now >= end) > 0;
            changed |= Fill(now);
        }
        if (changed) OnChanged();
    }

    private int ActiveCount() => _slots.Count(s => s.RetiresAt is null);

    // Up to the kept pool size, with fresh independent keys. Their lifetimes are drawn uniformly in
    // [Lifetime/2, Lifetime] from the CSPRNG: addresses added together (at start) then rotate at unrelated moments, and
    // each rotation's successor keeps that spread.
    private bool Fill(DateTimeOffset now)
    {
        bool added = false;
        while (ActiveCount() < _options.PoolSize)
        {
            var lifetime = _options.Lifetime / 2 + Random(_options.Lifetime / 2);
            _slots.Add(new Slot(ShadowKey.Generate(), now, now + lifetime));
            added = true;
        }
        return added;
    }

    // Uniform in [0, max] from the CSPRNG (nothing an observer can predict from other addresses).
    private static TimeSpan Random(TimeSpan max) =>
        max <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromTicks((long)(RandomNumberGenerator.GetInt32(int.MaxValue) / (double)(int.MaxValue - 1) * max.Ticks));

    /// <summary>When the pool next changes by itself (a lifetime or a grace period ends), or null when empty.</summary>
    public DateTimeOffset? NextChange()
    {
        lock (_gate)
        {
            return _slots.Count == 0 ? null : _slots.Min(s => s.RetiresAt ?? s.RotateAt);
        }
    }

    /// <summary>Every key with its state, for storage (keep it secret: it holds the private keys).</summary>
    public IReadOnlyList<(ShadowKey Key, DateTimeOffset Created, long Uses, DateTimeOffset? RetiresAt, DateTimeOffset RotateAt)> Export()
    {
        lock (_gate) return [.. _slots.Select(s => (s.Key, s.Created, s.Uses, s.RetiresAt, s.RotateAt))];
    }

    /// <summary>The addresses, after a sweep.</summary>
    public IReadOnlyList<ShadowAddressEntry> List()
    {
        Sweep();
        lock (_gate)
        {
            return [.. _slots.Select(s => new ShadowAddressEntry(s.Key.Address,
                s.RetiresAt is null ? ShadowAddressState.Active : ShadowAddressState.Retiring, s.Created, s.Uses,
                s.RotateAt, s.RetiresAt))];
        }
    }

    /// <summary>
    /// What to publish now, after a sweep: every key with, for a retiring address, the end of its grace period (the
    /// publisher skips the next period for an address that retires before it).
    /// </summary>
    public IReadOnlyList<(ShadowKey Key, DateTimeOffset? NotAfter)> Publishable()
    {
        Sweep();
        lock (_gate) return [.. _slots.Select(s => (s.Key, s.RetiresAt))];
    }

    /// <summary>The key of an address of the pool, or null.</summary>
    public ShadowKey? KeyOf(ShadowAddress address)
    {
        lock (_gate) return Find(address)?.Key;
    }

    private Slot? Find(ShadowAddress address) => _slots.FirstOrDefault(s => s.Key.Address.Equals(address));

    private ShadowAddress RotateLocked(Slot slot, DateTimeOffset now)
    {
        // The grace ends (and the old address's introduction circuits close) at a random moment after GracePeriod, so
        // the close does not name the rotation moment (docs/specs/shadow.md, section 7.7).
        slot.RetiresAt = now + _options.GracePeriod + Random(_options.EffectiveGraceJitter);
        // A fresh key, drawn independently: nothing links it to the old one.
        var fresh = new Slot(ShadowKey.Generate(), now, now + _options.Lifetime);
        _slots.Add(fresh);
        metrics.Rotation();
        return fresh.Key.Address;
    }
}

/// <summary>Options of the address pool.</summary>
public sealed class ShadowPoolOptions
{
    /// <summary>Most active addresses (retiring ones not counted): the hard cap; <see cref="ShadowAddressPool.Generate"/>
    /// beyond it is refused (<see cref="InvalidOperationException"/>, "the pool is full").</summary>
    public int MaxAddresses { get; set; } = 100;

    /// <summary>
    /// Active addresses the pool keeps at least (0..<see cref="MaxAddresses"/>): it adds fresh ones when it holds fewer
    /// (at start, after a revocation), with lifetimes drawn at random in [<see cref="Lifetime"/>/2, <see cref="Lifetime"/>]
    /// so they do not rotate together. Rotated addresses are replaced anyway. Each costs its introduction circuits and
    /// publications (docs/specs/shadow.md, section 6). 0 (the library's default): only what is added or generated.
    /// </summary>
    public int PoolSize { get; set; }

    /// <summary>Uses (introductions) after which an address is rotated.</summary>
    public long MaxUses { get; set; } = 100;

    /// <summary>Age after which an address is rotated.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a rotated address stays reachable, at least. With <see cref="EffectiveGraceJitter"/>, at most
    /// one descriptor period (<see cref="ShadowOptions.PeriodLength"/>).</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Most random time added to each rotated address's <see cref="GracePeriod"/> (uniform in [0, this], CSPRNG): when
    /// its introduction circuits close does not tell when it rotated (docs/specs/shadow.md, section 7.7). Null: a
    /// quarter of the grace period. Zero: none. <see cref="GracePeriod"/> plus this is at most one descriptor period, so
    /// a retiring address is never published past the period after its rotation's.
    /// </summary>
    public TimeSpan? GraceJitter { get; set; }

    /// <summary>The grace jitter in force.</summary>
    public TimeSpan EffectiveGraceJitter => GraceJitter ?? GracePeriod / 4;

    /// <summary>Checks the options; with <paramref name="periodLength"/>, also that the longest grace (<see cref="GracePeriod"/>
    /// plus <see cref="EffectiveGraceJitter"/>) is at most one period.</summary>
    internal void Validate(TimeSpan? periodLength = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxAddresses);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxUses);
        if (Lifetime <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Lifetime));
        if (GracePeriod < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(GracePeriod));
        if (GraceJitter < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(GraceJitter));
        if (periodLength is { } period && GracePeriod + EffectiveGraceJitter > period)
            throw new ArgumentOutOfRangeException(nameof(GraceJitter),
                $"GracePeriod ({GracePeriod}) plus GraceJitter ({EffectiveGraceJitter}) is at most one period ({period}, ShadowOptions.PeriodLength)");
        if (PoolSize < 0 || PoolSize > MaxAddresses) throw new ArgumentOutOfRangeException(nameof(PoolSize), "between 0 and MaxAddresses");
    }
}
