using System.Collections.Immutable;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Nat.PortMapping;

/// <summary>The node's port mappings changed (a mapping was made, renewed to another port, or lost).</summary>
public sealed record PortMappingsChanged(IReadOnlyList<PortMappingResult> Mappings);

/// <summary>
/// Keeps the node's TCP listen ports mapped on the gateway: maps them once the host listens (a listener added later at
/// once, woken by <see cref="LocalAddressesChanged"/>), renews each mapping
/// halfway through its lifetime (a renewal that fails without a refusal is retried, backing off from
/// <see cref="PortMappingOptions.RenewalRetryInterval"/>, and the mapping kept until its lease ends), tries again after
/// <see cref="PortMappingOptions.RetryInterval"/> when no protocol worked or a mapping was lost, removes a mapping from the
/// gateway as soon as its listener closes (woken by <see cref="LocalAddressesChanged"/>; checked at every round too), and
/// removes the mappings on stop. A round that fails with an error the mapper does not type is logged, counted
/// (<c>p2pstack_port_mapping_round_errors_total</c>) and shown in <see cref="LastError"/>, and the service tries again
/// after <see cref="PortMappingOptions.RetryInterval"/>. Every loss is counted by reason (<c>p2pstack_port_mappings_lost_total</c>). The public addresses the mappings give are in <see cref="ExternalAddresses"/>
/// and the host's address manager (<see cref="IAddressManager.MappedAddresses"/>), which advertises them while the
/// mappings last; every change is also announced with <see cref="PortMappingsChanged"/> on the host's event bus.
/// </summary>
public sealed partial class PortMappingService : IHostedService, IAsyncDisposable
{
    private readonly IPeerHost _host;
    private readonly IPortMappingClient _mapper;
    private readonly PortMappingMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private ImmutableArray<PortMappingResult> _mappings = [];
    private CancellationTokenSource? _stopping;
    private Task? _loop;
    private IDisposable? _addressWatch;

    // Released when a mapped port is no longer listened on, or a port is listened on that no round has tried: the loop
    // wakes before its next round to release or map it.
    private readonly SemaphoreSlim _wake = new(0, 1);

    // The ports a round has tried to map (mapped, or failed and waiting for RetryInterval); a listened port outside it
    // is a new listener. Written by the loop, read on the event bus's thread.
    private volatile ImmutableHashSet<int> _tried = [];

    public PortMappingService(IPeerHost host, PortMapper mapper, PortMappingMetrics? metrics = null, ILogger<PortMappingService>? logger = null,
        TimeProvider? timeProvider = null)
        : this(host, (IPortMappingClient)mapper, metrics, logger, timeProvider)
    {
    }

    internal PortMappingService(IPeerHost host, IPortMappingClient mapper, PortMappingMetrics? metrics = null,
        ILogger<PortMappingService>? logger = null, TimeProvider? timeProvider = null)
    {
        _host = host;
        _mapper = mapper;
        _metrics = metrics;
        _logger = logger ?? NullLogger<PortMappingService>.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The mappings in place now.</summary>
    public IReadOnlyList<PortMappingResult> Mappings => _mappings;

    /// <summary>The last failure of every protocol (or a round's unexpected error, wrapped), or null after a success.</summary>
    public PortMappingFailedException? LastError { get; private set; }

    /// <summary>What the mappings make the node reachable at: /ip4/EXTERNAL/tcp/PORT.</summary>
    public IReadOnlyList<Multiaddr> ExternalAddresses => ExternalAddressesOf(_mappings);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_mapper.Options.Protocols == PortMappingProtocols.None || _loop is not null) return Task.CompletedTask;
        _stopping = new CancellationTokenSource();
        _addressWatch = _host.Events.Subscribe<LocalAddressesChanged>(_ => OnAddressesChanged());
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null) return;
        _addressWatch?.Dispose();
        _addressWatch = null;
        await _stopping!.CancelAsync().ConfigureAwait(false);
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        _loop = null;
        _stopping.Dispose();
        var mappings = ImmutableInterlocked.InterlockedExchange(ref _mappings, []); // Interlocked.Exchange refuses a struct at run time
        await RemoveAtGatewayAsync(mappings, cancellationToken).ConfigureAwait(false);
        Publish();
    }

    /// <summary>Asks the gateway to remove mappings, best effort within <see cref="PortMappingOptions.RemoveTimeout"/>: a
    /// failure (typed by the mapper: not found, refused, malformed, a broken exchange) is logged, and the gateway's lease
    /// ends the mapping anyway.</summary>
    private async Task RemoveAtGatewayAsync(IEnumerable<PortMappingResult> mappings, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_mapper.Options.RemoveTimeout);
        foreach (var mapping in mappings)
        {
            try
            {
                await _mapper.RemoveAsync(mapping, timeout.Token).ConfigureAwait(false);
                LogRemoved(mapping.Method, mapping.ExternalPort);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // The removal's own deadline, not a cancellation: say so (the exception says only "canceled").
                LogRemoveFailed(mapping.Method, mapping.ExternalPort,
                    $"no answer within {_mapper.Options.RemoveTimeout.TotalSeconds:0.###} s (RemoveTimeout)");
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or P2PFormatException or System.Net.Sockets.SocketException
                or HttpRequestException)
            {
                LogRemoveFailed(mapping.Method, mapping.ExternalPort, $"{ex.GetType().Name}: {PortMapper.Cause(ex)}");
            }
        }
    }

    // On the event bus's thread: only a look at the ports, the loop does the work.
    private void OnAddressesChanged()
    {
        var ports = ListenedPorts();
        var tried = _tried;
        if (_mappings.All(m => ports.Contains(m.InternalPort)) && ports.All(tried.Contains)) return;
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken.
        }
    }

    /// <summary>Drops the mappings of ports no longer listened on: the address is withdrawn and the change announced
    /// first (nobody should be sent to a closed port), then the gateway is asked to remove them.</summary>
    private async Task ReleaseClosedListenersAsync(IReadOnlyCollection<int> ports, CancellationToken cancellationToken)
    {
        var closed = _mappings.Where(m => !ports.Contains(m.InternalPort)).ToList();
        if (closed.Count == 0) return;
        _mappings = [.. _mappings.Where(m => ports.Contains(m.InternalPort))];
        foreach (var mapping in closed)
        {
            _leases.Remove(mapping.InternalPort);
            _metrics?.Lost(mapping.Method, "listener_closed");
            LogListenerClosed(mapping.Method, mapping.InternalPort);
        }
        _metrics?.SetActive(_mappings.Length);
        Publish();
        await RemoveAtGatewayAsync(closed, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The TCP ports the host listens on that a gateway could forward to (IPv4, not loopback, not relayed).</summary>
    private List<int> ListenedPorts() => [.. _host.ListenAddresses
        .Where(a => a.Has(MultiaddrProtocols.Ip4) && a.Has(MultiaddrProtocols.Tcp) && !AddressScope.IsRelayed(a)
            && a.GetIPAddress() is { } ip && !System.Net.IPAddress.IsLoopback(ip))
        .Select(a => int.Parse(a.ValueOf(MultiaddrProtocols.Tcp)!, System.Globalization.CultureInfo.InvariantCulture))
        .Distinct()];

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var due = _time.GetUtcNow() + await MapOrRenewAsync(stopping).ConfigureAwait(false);
                // Woken before the next round when a mapped port's listener closed (its mapping goes now) or a new
                // listener opened (mapped now, its renewal scheduled with the others).
                while (await SleepAsync(due - _time.GetUtcNow(), stopping).ConfigureAwait(false))
                {
                    var ports = ListenedPorts();
                    await ReleaseClosedListenersAsync(ports, stopping).ConfigureAwait(false);
                    if (await MapNewListenersAsync(ports, stopping).ConfigureAwait(false) is { } renewAt && renewAt < due) due = renewAt;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                // Anything the mapper does not type (a bug, an untyped failure of an exchange) would end the loop, and
                // with it every renewal, without a word: logged once, counted, shown in LastError, and the mapping
                // tried again in a new round after RetryInterval (or sooner, when a listener opens or closes).
                var retryIn = _mapper.Options.RetryInterval;
                _metrics?.RoundFailed();
                LastError = ex as PortMappingFailedException ?? new PortMappingFailedException([ex]);
                LogRoundFailed(ex, retryIn);
                try
                {
                    await SleepAsync(retryIn, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Waits <paramref name="wait"/> on the service's clock; true when woken earlier by <see cref="_wake"/>.</summary>
    private async Task<bool> SleepAsync(TimeSpan wait, CancellationToken stopping)
    {
        if (wait <= TimeSpan.Zero) return false;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var delay = Task.Delay(wait, _time, either.Token);
        var wake = _wake.WaitAsync(either.Token);
        await Task.WhenAny(delay, wake).ConfigureAwait(false);
        await either.CancelAsync().ConfigureAwait(false);
        try
        {
            await wake.ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            stopping.ThrowIfCancellationRequested();
            return false;
        }
    }

    /// <summary>Maps the listened ports that no round has tried yet (a listener added since the last round); a failure
    /// is left to the next round, as a failed first mapping. Returns the earliest renewal of the new mappings.</summary>
    private async Task<DateTimeOffset?> MapNewListenersAsync(IReadOnlyCollection<int> ports, CancellationToken cancellationToken)
    {
        var added = ports.Where(p => !_tried.Contains(p)).ToList();
        _tried = [.. _tried.Where(ports.Contains), .. added]; // a closed port listened on again is new again
        DateTimeOffset? renewAt = null;
        PortMappingFailedException? error = null;
        bool succeeded = false;
        foreach (int port in added)
        {
            var now = _time.GetUtcNow();
            try
            {
                var mapping = await _mapper.MapAsync(MappingProtocol.Tcp, port, cancellationToken).ConfigureAwait(false);
                var lease = LeaseOf(mapping, now);
                _leases[port] = lease;
                _mappings = [.. _mappings.Where(m => m.InternalPort != port), mapping];
                succeeded = true;
                if (lease.RenewAt < (renewAt ?? DateTimeOffset.MaxValue)) renewAt = lease.RenewAt;
            }
            catch (Exception ex) when (ex is IOException or P2PFormatException or System.Net.Sockets.SocketException)
            {
                error = ex as PortMappingFailedException ?? new PortMappingFailedException([ex]);
                if (ex is not PortMappingFailedException) LogMapFailed(port, ex.Message);
            }
        }
        if (succeeded)
        {
            _metrics?.SetActive(_mappings.Length);
            Publish();
        }
        if (error is not null) LastError = error;
        else if (succeeded) LastError = null;
        return renewAt;
    }

    /// <summary>The schedule of a mapping just made or renewed, counted from <paramref name="now"/> (taken before the
    /// request: never later than the gateway's).</summary>
    private static Lease LeaseOf(PortMappingResult mapping, DateTimeOffset now) => mapping.Lifetime == TimeSpan.Zero
        ? new Lease(DateTimeOffset.MaxValue, DateTimeOffset.MaxValue, 0) // permanent (IGD:1): never renewed
        : new Lease(now + mapping.RenewAfter, now + mapping.Lifetime, 0);

    /// <summary>One round: renews mappings that are due, maps ports that have none; returns when to come back.</summary>
    private async Task<TimeSpan> MapOrRenewAsync(CancellationToken cancellationToken)
    {
        var ports = ListenedPorts();
        // A listener closed without waking the loop (or while it was busy): its mapping goes first.
        await ReleaseClosedListenersAsync(ports, cancellationToken).ConfigureAwait(false);
        var options = _mapper.Options;
        var next = options.RetryInterval;
        var now = _time.GetUtcNow();
        var current = new List<PortMappingResult>();
        bool changed = false;
        PortMappingFailedException? error = null;
        bool succeeded = false;
        foreach (int port in ports)
        {
            var existing = _mappings.FirstOrDefault(m => m.InternalPort == port);
            _leases.TryGetValue(port, out var lease);
            if (existing is not null && lease is not null && lease.RenewAt > now)
            {
                current.Add(existing);
                next = Min(next, lease.RenewAt - now);
                continue;
            }
            if (existing is not null && lease is not null && lease.ExpiresAt <= now)
            {
                // Every renewal failed until the gateway's lease ran out: the mapping is gone, and so is the address.
                // Counted as the gateway gone when it last did not answer at all, else as the lease expired.
                LogLeaseExpired(existing.Method, port, lease.Failures);
                _metrics?.Lost(existing.Method, lease.Unanswered ? "gateway_gone" : "lease_expired");
                _leases.Remove(port);
                changed = true;
                continue;
            }
            try
            {
                var mapping = existing is null
                    ? await _mapper.MapAsync(MappingProtocol.Tcp, port, cancellationToken).ConfigureAwait(false)
                    : await _mapper.RenewAsync(existing, cancellationToken).ConfigureAwait(false);
                changed |= existing is null || existing.ExternalPort != mapping.ExternalPort || !existing.ExternalAddress.Equals(mapping.ExternalAddress);
                lease = LeaseOf(mapping, now); // the round's start: never later than the gateway's
                _leases[port] = lease;
                succeeded = true;
                current.Add(mapping);
                if (lease.RenewAt != DateTimeOffset.MaxValue) next = Min(next, lease.RenewAt - now);
            }
            catch (Exception ex) when (ex is IOException or P2PFormatException or System.Net.Sockets.SocketException)
            {
                // The mapper types and counts the gateways' failures; anything else escaping it is wrapped the same way.
                var failed = ex as PortMappingFailedException ?? new PortMappingFailedException([ex]);
                error = failed;
                if (existing is null)
                {
                    if (ex is not PortMappingFailedException) LogMapFailed(port, ex.Message);
                    continue; // no mapping: the next round after RetryInterval
                }
                if (failed.Refused || lease is null)
                {
                    // The gateway said no: its mapping is gone or going, so is the address; map again after RetryInterval.
                    LogRenewRefused(existing.Method, port, PortMapper.Cause(ex));
                    _metrics?.Lost(existing.Method, "renewal_refused");
                    _leases.Remove(port);
                    changed = true;
                    continue;
                }
                // No answer, a broken exchange, garbage: the gateway's lease still runs, so the mapping and its address
                // stay; the renewal is tried again, backing off, but never past the end of the lease.
                var wait = options.RenewalRetryInterval * Math.Pow(2, Math.Min(lease.Failures, 20));
                var retryAt = wait >= lease.ExpiresAt - now ? lease.ExpiresAt : now + wait;
                lease = lease with { RenewAt = retryAt, Failures = lease.Failures + 1, Unanswered = failed.Errors.All(e => e is GatewayNotFoundException) };
                _leases[port] = lease;
                LogRenewFailed(existing.Method, port, PortMapper.Cause(ex), lease.ExpiresAt - now, retryAt - now);
                current.Add(existing);
                next = Min(next, retryAt - now);
            }
        }
        foreach (int gone in _leases.Keys.Where(p => !ports.Contains(p)).ToList()) _leases.Remove(gone);
        _tried = [.. ports];
        _mappings = [.. current];
        _metrics?.SetActive(current.Count);
        if (changed) Publish();
        // Set after the mappings and the address manager, so that whoever sees the error sees the round's outcome.
        if (error is not null) LastError = error;
        else if (succeeded) LastError = null;
        return next < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : next;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>A mapping's schedule: when to renew (or retry a failed renewal), when the gateway's lease ends, how
    /// many renewals in a row failed, and whether the last one found no gateway answering.</summary>
    private sealed record Lease(DateTimeOffset RenewAt, DateTimeOffset ExpiresAt, int Failures, bool Unanswered = false);

    private readonly Dictionary<int, Lease> _leases = [];

    // The host advertises the mapped addresses (identify's listenAddrs and push, the signed peer record) until the
    // mapping is lost or removed; then the event for whoever watches the mappings themselves.
    private void Publish()
    {
        var mappings = _mappings;
        try
        {
            _host.AddressManager.SetMappedAddresses(ExternalAddressesOf(mappings));
        }
        catch (ResourceLimitExceededException ex)
        {
            LogNotAdvertised(ex.Message);
        }
        _host.Events.Publish(new PortMappingsChanged(mappings));
    }

    private static List<Multiaddr> ExternalAddressesOf(IEnumerable<PortMappingResult> mappings) =>
        [.. mappings.Select(m => Multiaddr.Parse($"/ip4/{m.ExternalAddress}/tcp/{m.ExternalPort}"))];

    [LoggerMessage(Level = LogLevel.Warning, Message = "a port mapping round failed unexpectedly; the next round in {RetryIn}")]
    private partial void LogRoundFailed(Exception exception, TimeSpan retryIn);

    [LoggerMessage(Level = LogLevel.Warning, Message = "mapped addresses not advertised: {Reason}")]
    private partial void LogNotAdvertised(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: mapping of port {Port} removed")]
    private partial void LogRemoved(string method, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: removing the mapping of port {Port} failed: {Reason}")]
    private partial void LogRemoveFailed(string method, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "mapping port {Port} failed: {Reason}")]
    private partial void LogMapFailed(int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: renewing the mapping of port {Port} failed: {Reason}; the mapping is kept (lease ends in {LeaseLeft}), next attempt in {RetryIn}")]
    private partial void LogRenewFailed(string method, int port, string reason, TimeSpan leaseLeft, TimeSpan retryIn);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: the gateway refused to renew the mapping of port {Port}: {Reason}; the mapping is dropped")]
    private partial void LogRenewRefused(string method, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: port {Port} is no longer listened on; its mapping is withdrawn and removed from the gateway")]
    private partial void LogListenerClosed(string method, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: the lease of the mapping of port {Port} ended after {Failures} failed renewals; the mapping is dropped")]
    private partial void LogLeaseExpired(string method, int port, int failures);
}
