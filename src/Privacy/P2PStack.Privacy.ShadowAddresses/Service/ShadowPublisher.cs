using System.Security.Cryptography;
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
    /// Most random delay (uniform in [0, this), from a CSPRNG, drawn independently per address, period and publication)
    /// before each publication: a new or rotated address's first one, republications, next-period ones, renewals and
    /// retries (these at most <see cref="RetryInterval"/>; next-period ones at most half the descriptor overlap). So the
    /// records of a service's addresses never leave together on a schedule an observer could correlate. Null: a quarter
    /// of <see cref="RepublishInterval"/>, at most 5 min. Zero: publish when due (records of several addresses then
    /// leave together, e.g. at start).
    /// </summary>
    public TimeSpan? PublicationJitter { get; set; }

    /// <summary>The jitter in force (<see cref="PublicationJitter"/> or its default).</summary>
    public TimeSpan EffectiveJitter => PublicationJitter
        ?? (RepublishInterval / 4 < MaxDefaultJitter ? RepublishInterval / 4 : MaxDefaultJitter);

    private static readonly TimeSpan MaxDefaultJitter = TimeSpan.FromMinutes(5);

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
        if (PublicationJitter is { } jitter && (jitter < TimeSpan.Zero || jitter > RepublishInterval))
            throw new ArgumentOutOfRangeException(nameof(PublicationJitter), "between zero and RepublishInterval");
    }
}

/// <summary>What the publisher last did for one address.</summary>
public sealed record ShadowPublication(ShadowAddress Address, ulong Period, DateTimeOffset At, int StoredOn, int IntroductionPoints,
    DateTimeOffset Expires, string? Error)
{
    /// <summary>A retirement record: the address left the pool and this superseded its descriptor of the period.</summary>
    public bool Retirement { get; init; }
}

/// <summary>
/// Publishes the pool's descriptors on a schedule (docs/specs/shadow.md, section 5): each address for the current
/// period when it joins the pool, at each period start, every <see cref="ShadowPublisherOptions.RepublishInterval"/>,
/// when its introduction points are renewed, and, within the overlap before a period ends, for the next period too;
/// each publication of each address and period after its own random delay (<see cref="ShadowPublisherOptions.PublicationJitter"/>).
/// A rotation publishes nothing for the retiring address: its descriptors keep their ordinary expiry and it is
/// republished on its own schedule until its grace period ends. When an address leaves the pool (its grace period
/// ended, or it was revoked), a retirement record (no introduction points, a higher revision) supersedes each of its
/// descriptors that may still be stored, at once, so that it stops resolving. A publication that fails, that no DHT peer stored, or
/// that has fewer introduction points than wanted is retried after <see cref="ShadowPublisherOptions.RetryInterval"/>
/// (plus its delay).
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
    // Per address and period: when its next publication is due (each with its own random delay).
    private readonly Dictionary<(ShadowAddress Address, ulong Period), DateTimeOffset> _due = [];
    private readonly Dictionary<ShadowAddress, ShadowPublication> _last = [];
    // The keys of the addresses seen in the pool (to sign their retirement records once they leave it), the periods
    // each was published for, and the retirement records due (per address and period).
    private readonly Dictionary<ShadowAddress, ShadowKey> _keys = [];
    private readonly HashSet<(ShadowAddress Address, ShadowPeriod Period)> _published = [];
    private readonly Dictionary<(ShadowAddress Address, ShadowPeriod Period), (ShadowKey Key, DateTimeOffset Due)> _retire = [];
    // The last retirement publication per address and period, while that period's descriptors may be stored.
    private readonly Dictionary<ShadowAddress, List<ShadowPublication>> _retirements = [];

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

    // The introduction points of an address changed (renewed): its descriptors are due after their own delays.
    private void Republish(ShadowAddress address)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var key in _due.Keys.Where(k => k.Address.Equals(address)).ToList())
            {
                var at = now + Delay(_options.EffectiveJitter);
                if (at < _due[key]) _due[key] = at;
            }
        }
        Wake();
    }

    // A uniform random delay in [0, max), from the CSPRNG: an observer cannot predict it from other publications.
    private static TimeSpan Delay(TimeSpan max)
    {
        if (max <= TimeSpan.Zero) return TimeSpan.Zero;
        double unit = (RandomNumberGenerator.GetInt32(int.MaxValue) / (double)int.MaxValue);
        return TimeSpan.FromTicks((long)(unit * max.Ticks));
    }

    /// <summary>When the next publication of <paramref name="address"/> for the current period is due, or null when none
    /// is scheduled (not in the pool, or not seen by a round yet).</summary>
    public DateTimeOffset? ScheduledOf(ShadowAddress address)
    {
        var period = ShadowPeriod.At(_time.GetUtcNow(), _shadow.PeriodLength).Number;
        lock (_gate) return _due.TryGetValue((address, period), out var at) ? at : null;
    }

    /// <summary>
    /// Publishes <paramref name="address"/> for the current period now, without a delay (an operator's explicit
    /// request; the moment is theirs), then runs a round; returns what it published.
    /// </summary>
    public Task<IReadOnlyList<ShadowPublication>> PublishNowAsync(ShadowAddress address, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        lock (_gate) _due[(address, ShadowPeriod.At(now, _shadow.PeriodLength).Number)] = now;
        return PublishDueAsync(cancellationToken);
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

    /// <summary>
    /// Publishes the retirement records of <paramref name="address"/>, which has left the pool (an operator's revoke),
    /// now, and only those: the other addresses' publications due meanwhile are left to the publisher's own round (the
    /// caller does not wait for them). Waits for a round already under way (the publisher's own, woken by the pool, may
    /// have published them), and returns the last retirement publication of each period (empty when the address had
    /// no descriptor to supersede).
    /// </summary>
    public async Task<IReadOnlyList<ShadowPublication>> RetireNowAsync(ShadowAddress address, CancellationToken cancellationToken)
    {
        bool RetirementOf(ShadowKey key, bool retire) => retire && key.Address.Equals(address);
        if (Plan(_time.GetUtcNow()).Exists(d => RetirementOf(d.Key, d.Retire)))
        {
            try
            {
                await _directory.Access.WaitReadyAsync(_shadow.DirectoryWaitTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (Onion.Client.NoPathException)
            {
                // The retirement records fail with the reason and are retried.
            }
        }
        await _publishing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = _time.GetUtcNow();
            foreach (var (key, period, _) in Plan(now).Where(d => RetirementOf(d.Key, d.Retire)))
                await RetireOneAsync(key, period, now, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _publishing.Release();
        }
        Wake(); // whatever else the plan found due is the round's
        lock (_gate) return _retirements.TryGetValue(address, out var list) ? [.. list] : [];
    }

    /// <summary>Runs one round now: publishes what is due; returns what it published.</summary>
    /// <remarks>A node that just started may wait for its onion directory (<see cref="ShadowOptions.DirectoryWaitTimeout"/>)
    /// before anything is due can be published: that wait runs before the round takes its lock, so another caller (an
    /// operator's revoke, a second generate) is not held behind it; the round's publications then do not wait again (one
    /// that still finds no path fails at once and is retried).</remarks>
    public async Task<IReadOnlyList<ShadowPublication>> PublishDueAsync(CancellationToken cancellationToken)
    {
        if (Plan(_time.GetUtcNow()).Count == 0) return [];
        try
        {
            await _directory.Access.WaitReadyAsync(_shadow.DirectoryWaitTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Onion.Client.NoPathException)
        {
            // The round's publications fail with the reason and are retried.
        }
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
        List<ShadowPublication> published = [];
        foreach (var (key, p, retire) in Plan(now))
        {
            published.Add(retire
                ? await RetireOneAsync(key, p, now, cancellationToken).ConfigureAwait(false)
                : await PublishOneAsync(key, p, now, cancellationToken).ConfigureAwait(false));
        }
        return published;
    }

    // What is due now (forgetting addresses that left the pool, scheduling those seen for the first time); no I/O.
    private List<(ShadowKey Key, ShadowPeriod Period, bool Retire)> Plan(DateTimeOffset now)
    {
        var period = ShadowPeriod.At(now, _shadow.PeriodLength);
        var keys = _pool.Publishable();
        var live = keys.Select(k => k.Key.Address).ToHashSet();
        List<(ShadowKey, ShadowPeriod, bool)> due = [];
        lock (_gate)
        {
            foreach (var gone in _last.Keys.Where(a => !live.Contains(a)).ToList())
            {
                _last.Remove(gone);
                _introductions.Forget(gone);
            }
            foreach (var old in _due.Keys.Where(k => !live.Contains(k.Address) || k.Period < period.Number).ToList()) _due.Remove(old);
            // Left the pool: each of its descriptors that may still be stored (published for a period whose descriptors
            // have not expired: end plus overlap) is superseded by a retirement record, due at once.
            foreach (var gone in _keys.Keys.Where(a => !live.Contains(a)).ToList())
            {
                foreach (var published in _published.Where(k => k.Address.Equals(gone)).ToList())
                {
                    _published.Remove(published);
                    if (StillStored(published.Period, now)) _retire[published] = (_keys[gone], now);
                }
                _keys.Remove(gone);
            }
            foreach (var (key, _) in keys) _keys[key.Address] = key;
            foreach (var old in _published.Where(k => !StillStored(k.Period, now)).ToList()) _published.Remove(old);
            foreach (var (address, list) in _retirements.ToList())
                if (list.TrueForAll(p => !StillStored(new ShadowPeriod(p.Period, period.LengthSeconds), now))) _retirements.Remove(address);
            foreach (var (at, (key, when)) in _retire.ToList())
            {
                if (!StillStored(at.Period, now)) _retire.Remove(at);
                else if (now >= when) due.Add((key, at.Period, true));
            }
        }
        bool nearEnd = now >= period.End - _shadow.DescriptorOverlap;
        foreach (var (key, notAfter) in keys)
        {
            foreach (var p in nearEnd && (notAfter is null || notAfter > period.End) ? [period, period.Next] : new[] { period })
                if (Due(key.Address, p, period, now)) due.Add((key, p, false));
        }
        return due;
    }

    // A descriptor of the period, published with the ordinary expiry, may still be stored and resolve.
    private bool StillStored(ShadowPeriod period, DateTimeOffset now) => now < period.End + _shadow.DescriptorOverlap;

    // The address left the pool: supersede its descriptor of the period by a retirement record (same size, same
    // ordinary expiry, a higher revision), so that resolvers that get it answer "retired" even where other DHT nodes
    // still hold the older descriptor (the highest revision wins). Retried until stored or the period's descriptors expire.
    private async Task<ShadowPublication> RetireOneAsync(ShadowKey key, ShadowPeriod period, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ShadowPublication result;
        try
        {
            var (descriptor, storedOn) = await _directory.PublishAsync(key, ShadowDescriptorContent.Retirement, cancellationToken, period,
                directoryWait: TimeSpan.Zero).ConfigureAwait(false);
            result = new ShadowPublication(key.Address, period.Number, now, storedOn, 0, descriptor.Expires,
                storedOn == 0 ? "no DHT peer stored the retirement record" : null) { Retirement = true };
        }
        catch (Exception e) when (e is Protocols.Kademlia.DhtNoPeersException or Protocols.Kademlia.DhtStoreLimitException or Onion.Client.NoPathException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            result = new ShadowPublication(key.Address, period.Number, now, 0, 0, default, e.Message) { Retirement = true };
            _logger.LogDebug("Shadow retirement record not published ({Reason}); retrying in {Retry}", e.Message, _options.RetryInterval);
        }
        lock (_gate)
        {
            if (!_retirements.TryGetValue(key.Address, out var list)) _retirements[key.Address] = list = [];
            list.RemoveAll(p => p.Period == period.Number);
            list.Add(result);
            if (result.StoredOn > 0) _retire.Remove((key.Address, period));
            else _retire[(key.Address, period)] = (key, now + _options.RetryInterval + Delay(_options.RetryInterval));
        }
        return result;
    }

    // Seen for the first time (a new address, a new period): scheduled after its own delay, not published yet.
    private bool Due(ShadowAddress address, ShadowPeriod period, ShadowPeriod current, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (_due.TryGetValue((address, period.Number), out var at)) return now >= at;
            // Ahead of the next period: within half the overlap, so it is stored before clients look it up.
            var jitter = _options.EffectiveJitter;
            if (period.Number != current.Number && _shadow.DescriptorOverlap / 2 < jitter) jitter = _shadow.DescriptorOverlap / 2;
            at = now + Delay(jitter);
            _due[(address, period.Number)] = at;
            return now >= at;
        }
    }

    // The retiring address's descriptors keep the ordinary expiry (end of period plus overlap): a capped expiry would
    // name the rotation moment in the clear (docs/specs/shadow.md, section 6).
    private async Task<ShadowPublication> PublishOneAsync(ShadowKey key, ShadowPeriod period, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ShadowPublication result;
        try
        {
            var content = await _introductions.GetAsync(key.Address, cancellationToken).ConfigureAwait(false);
            if (content.Retired) throw new ShadowIntroductionUnavailableException("no introduction point"); // never a retirement by accident
            lock (_gate) _published.Add((key.Address, period)); // may be stored from here on, even if the put fails
            // The wait for the onion directory ran before the round (PublishDueAsync): none here, under the lock.
            var (descriptor, storedOn) = await _directory.PublishAsync(key, content, cancellationToken, period, directoryWait: TimeSpan.Zero)
                .ConfigureAwait(false);
            result = new ShadowPublication(key.Address, period.Number, now, storedOn, content.IntroductionPoints.Count, descriptor.Expires,
                storedOn == 0 ? "no DHT peer stored the descriptor" : null);
        }
        catch (Exception e) when (e is ShadowIntroductionUnavailableException or Protocols.Kademlia.DhtNoPeersException or Protocols.Kademlia.DhtStoreLimitException
            or Onion.Client.NoPathException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            result = new ShadowPublication(key.Address, period.Number, now, 0, 0, default, e.Message);
            _logger.LogDebug("Shadow descriptor not published ({Reason}); retrying in {Retry}", e.Message, _options.RetryInterval);
        }
        lock (_gate)
        {
            // Stored with all the introduction points wanted: due again at the republish interval; else (not stored, or
            // fewer relays known than wanted) at the retry interval, with the points known by then.
            bool complete = result.StoredOn > 0 && result.IntroductionPoints >= _options.IntroductionPoints;
            var jitter = _options.EffectiveJitter;
            if (!complete && _options.RetryInterval < jitter) jitter = _options.RetryInterval;
            _due[(key.Address, period.Number)] = now + (complete ? _options.RepublishInterval : _options.RetryInterval) + Delay(jitter);
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
            foreach (var due in _due.Values)
                if (due < next) next = due;
            foreach (var (_, due) in _retire.Values)
                if (due < next) next = due;
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
