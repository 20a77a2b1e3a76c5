using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace P2PStack.Privacy.ShadowAddresses.Service;

/// <summary>Options of the scheduled publisher.</summary>
public sealed class ShadowPublisherOptions
{
    /// <summary>Introduction points per descriptor (1-10).</summary>
    public int IntroductionPoints { get; set; } = 3;

    /// <summary>Republish every descriptor this often within a period (DHT nodes come and go).</summary>
    public TimeSpan RepublishInterval { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>Wait before retrying a publication that failed or that no DHT peer stored.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an address keeps its introduction points (and the circuits registered there) before they are renewed:
    /// new points are registered and published, then the old ones retire. Null: the onion client's
    /// <c>CircuitLifetime</c> (10 min).
    /// </summary>
    public TimeSpan? IntroductionLifetime { get; set; }

    /// <summary>How long retired introduction points keep introducing after the descriptor without them was handed to
    /// the publisher: clients that resolved the old descriptor just before still get through.</summary>
    public TimeSpan IntroductionRetireGrace { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Refuse introduced connections whose client does not run the padding filter (docs/specs/padding.md): the upgrade
    /// of such a connection fails before any protocol runs. Needs the padding module (<c>AddPadding</c>). Off by
    /// default: clients pad shadow connections by default anyway, and one without the module is then still served.
    /// </summary>
    public bool RequirePadding { get; set; }

    internal void Validate()
    {
        if (IntroductionPoints is < 1 or > ShadowDescriptor.MaxIntroductionPoints) throw new ArgumentOutOfRangeException(nameof(IntroductionPoints));
        if (RepublishInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RepublishInterval));
        if (RetryInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RetryInterval));
        if (IntroductionLifetime is { } lifetime && lifetime <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(IntroductionLifetime));
        if (IntroductionRetireGrace < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(IntroductionRetireGrace));
    }
}

/// <summary>What the publisher last did for one address.</summary>
public sealed record ShadowPublication(ShadowAddress Address, ulong Period, DateTimeOffset At, int StoredOn, int IntroductionPoints,
    DateTimeOffset Expires, string? Error);

/// <summary>
/// Publishes the pool's descriptors on a schedule (docs/specs/shadow.md, section 5): each address for the current
/// period, at once when the pool changes (a new, rotated, retiring or revoked address), at each period start, every
/// <see cref="ShadowPublisherOptions.RepublishInterval"/>, and, within the overlap before a period ends, for the next
/// period too. A retiring address's descriptors expire at the end of its grace period. A publication that fails, that
/// no DHT peer stored, or that has fewer introduction points than wanted is retried after
/// <see cref="ShadowPublisherOptions.RetryInterval"/>.
/// </summary>
public sealed class ShadowPublisher : BackgroundService
{
    private readonly ShadowAddressPool _pool;
    private readonly ShadowDirectory _directory;
    private readonly IShadowIntroductionSource _introductions;
    private readonly ShadowOptions _shadow;
    private readonly ShadowPublisherOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ShadowPublisher> _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private readonly Lock _gate = new();
    // Per address and period: what was published (to republish only on a change or when due).
    private readonly Dictionary<(ShadowAddress Address, ulong Period), (DateTimeOffset? NotAfter, DateTimeOffset At, bool Stored)> _done = [];
    private readonly Dictionary<ShadowAddress, ShadowPublication> _last = [];

    public ShadowPublisher(ShadowAddressPool pool, ShadowDirectory directory, IShadowIntroductionSource introductions,
        IOptions<ShadowOptions> shadow, IOptions<ShadowPublisherOptions> options, ILogger<ShadowPublisher> logger, TimeProvider? time = null)
    {
        _pool = pool;
        _directory = directory;
        _introductions = introductions;
        _shadow = shadow.Value;
        _options = options.Value;
        _options.Validate();
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _pool.Changed += (_, _) => Wake();
        _introductions.Changed += Republish;
    }

    // The introduction points of an address changed (renewed): its descriptors are due at once.
    private void Republish(ShadowAddress address)
    {
        lock (_gate)
        {
            foreach (var key in _done.Keys.Where(k => k.Address.Equals(address)).ToList()) _done.Remove(key);
        }
        Wake();
    }

    /// <summary>The last publication of each address still in the pool.</summary>
    public IReadOnlyList<ShadowPublication> Publications
    {
        get
        {
            lock (_gate) return [.. _last.Values];
        }
    }

    /// <summary>The last publication of <paramref name="address"/>, or null.</summary>
    public ShadowPublication? LastOf(ShadowAddress address)
    {
        lock (_gate) return _last.GetValueOrDefault(address);
    }

    /// <summary>Runs one round now: publishes what is due; returns what it published.</summary>
    public async Task<IReadOnlyList<ShadowPublication>> PublishDueAsync(CancellationToken cancellationToken)
    {
        await _publishing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RoundAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _publishing.Release();
        }
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PublishDueAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogWarning(e, "Shadow publication round failed");
            }
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var woken = _wake.WaitAsync(wait.Token);
            var due = Task.Delay(NextWait(), _time, wait.Token);
            await Task.WhenAny(woken, due).ConfigureAwait(false);
            await wait.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(woken, due).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The other of the two, or the host stopping (the loop ends).
            }
        }
    }

    private async Task<IReadOnlyList<ShadowPublication>> RoundAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var period = ShadowPeriod.At(now, _shadow.PeriodLength);
        var keys = _pool.Publishable();
        var live = keys.Select(k => k.Key.Address).ToHashSet();
        lock (_gate)
        {
            foreach (var gone in _last.Keys.Where(a => !live.Contains(a)).ToList())
            {
                _last.Remove(gone);
                _introductions.Forget(gone);
            }
            foreach (var old in _done.Keys.Where(k => !live.Contains(k.Address) || k.Period < period.Number).ToList()) _done.Remove(old);
        }
        bool nearEnd = now >= period.End - _shadow.DescriptorOverlap;
        List<ShadowPublication> published = [];
        foreach (var (key, notAfter) in keys)
        {
            foreach (var p in nearEnd && (notAfter is null || notAfter > period.End) ? [period, period.Next] : new[] { period })
            {
                if (!Due(key.Address, p, notAfter, now)) continue;
                published.Add(await PublishOneAsync(key, p, notAfter, now, cancellationToken).ConfigureAwait(false));
            }
        }
        return published;
    }

    private bool Due(ShadowAddress address, ShadowPeriod period, DateTimeOffset? notAfter, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_done.TryGetValue((address, period.Number), out var done)) return true;
            if (done.NotAfter != notAfter) return true;
            return now >= done.At + (done.Stored ? _options.RepublishInterval : _options.RetryInterval);
        }
    }

    private async Task<ShadowPublication> PublishOneAsync(ShadowKey key, ShadowPeriod period, DateTimeOffset? notAfter, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        ShadowPublication result;
        try
        {
            var content = await _introductions.GetAsync(key.Address, cancellationToken).ConfigureAwait(false);
            var (descriptor, storedOn) = await _directory.PublishAsync(key, content, cancellationToken, period, notAfter).ConfigureAwait(false);
            result = new ShadowPublication(key.Address, period.Number, now, storedOn, content.IntroductionPoints.Count, descriptor.Expires,
                storedOn == 0 ? "no DHT peer stored the descriptor" : null);
        }
        catch (Exception e) when (e is ShadowIntroductionUnavailableException or Protocols.Kademlia.DhtNoPeersException or Protocols.Kademlia.DhtStoreLimitException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            result = new ShadowPublication(key.Address, period.Number, now, 0, 0, default, e.Message);
            _logger.LogDebug("Shadow descriptor not published ({Reason}); retrying in {Retry}", e.Message, _options.RetryInterval);
        }
        lock (_gate)
        {
            // Stored with all the introduction points wanted: due again at the republish interval; else (not stored, or
            // fewer relays known than wanted) at the retry interval, with the points known by then.
            _done[(key.Address, period.Number)] = (notAfter, now, result.StoredOn > 0 && result.IntroductionPoints >= _options.IntroductionPoints);
            if (period.Number == ShadowPeriod.At(now, _shadow.PeriodLength).Number || !_last.ContainsKey(key.Address)) _last[key.Address] = result;
        }
        return result;
    }

    // Until the next thing due: a retry or republication, the next period's overlap window or start, or a pool change.
    private TimeSpan NextWait()
    {
        var now = _time.GetUtcNow();
        var period = ShadowPeriod.At(now, _shadow.PeriodLength);
        var next = period.End;
        if (period.End - _shadow.DescriptorOverlap > now) next = period.End - _shadow.DescriptorOverlap;
        lock (_gate)
        {
            foreach (var done in _done.Values)
            {
                var due = done.At + (done.Stored ? _options.RepublishInterval : _options.RetryInterval);
                if (due < next) next = due;
            }
        }
        if (_pool.NextChange() is { } change && change < next) next = change;
        var wait = next - now;
        return wait < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : wait;
    }

    public override void Dispose()
    {
        _introductions.Changed -= Republish;
        _wake.Dispose();
        _publishing.Dispose();
        base.Dispose();
        GC.SuppressFinalize(this);
    }
}
