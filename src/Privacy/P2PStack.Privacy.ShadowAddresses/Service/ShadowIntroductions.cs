using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Transport;

namespace P2PStack.Privacy.ShadowAddresses.Service;

/// <summary>
/// The service side of shadow connections (docs/specs/shadow.md, section 7): the introduction points another source
/// chooses (by default <see cref="OnionIntroductionSource"/>), each held by a circuit of this node registered there
/// with the point's auth key. The publisher asks this source, so a descriptor lists only points whose registration
/// stands. A client stream the relay joins to a registration arrives as an inbound anonymous connection, upgraded under
/// the address's service identity (<see cref="ShadowKey.ServiceIdentity"/>, never the node's); once its handshake has
/// completed it counts as a use of the address (rotation after N uses). A registration whose circuit ends is re-established with the same relay and
/// auth key, so published descriptors stay valid. At the end of their lifetime
/// (<see cref="ShadowPublisherOptions.IntroductionLifetime"/>) an address's points are renewed make-before-break: the
/// registrations retire (still introducing), the source chooses new points, the publisher registers and publishes
/// them (<see cref="Changed"/>), and the retired ones close <see cref="ShadowPublisherOptions.IntroductionRetireGrace"/>
/// after the first descriptor without them was handed out.
/// </summary>
public sealed partial class ShadowIntroductions(IShadowIntroductionSource inner, OnionClient onion, OnionListeners listeners,
    ShadowAddressPool pool, ShadowMetrics metrics, ILogger<ShadowIntroductions> logger, IOptions<ShadowPublisherOptions>? options = null,
    IOptions<OnionOptions>? onionOptions = null, TimeProvider? time = null, IEventBus? events = null) : IShadowIntroductionSource, IAsyncDisposable
{
    private IDisposable? _onConnected;
    private readonly Lock _gate = new();
    private readonly Dictionary<(ShadowAddress Address, PeerId Relay), Registration> _registrations = [];
    private readonly List<(ShadowAddress Address, Registration Registration)> _retiring = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TimeSpan _lifetime = options?.Value.IntroductionLifetime ?? (onionOptions?.Value ?? new OnionOptions()).Client.CircuitLifetime;
    private readonly TimeSpan _grace = options?.Value.IntroductionRetireGrace ?? new ShadowPublisherOptions().IntroductionRetireGrace;
    private readonly IReadOnlyList<string>? _requiredFilters = options?.Value.RequirePadding == true ? [P2PStack.Privacy.Padding.PaddingFilter.Id] : null;

    /// <inheritdoc/>
    public event Action<ShadowAddress>? Changed;

    /// <summary>Retired registrations still introducing (address, introduction point), until their grace ends.</summary>
    public IReadOnlyList<(ShadowAddress Address, PeerId Relay)> Retiring
    {
        get
        {
            lock (_gate) return [.. _retiring.Select(r => (r.Address, r.Registration.Relay))];
        }
    }

    /// <summary>Live registrations now (address, introduction point).</summary>
    public IReadOnlyList<(ShadowAddress Address, PeerId Relay)> Registrations
    {
        get
        {
            lock (_gate)
                return [.. _registrations.Where(r => r.Value.IsLive).Select(r => r.Key)];
        }
    }

    public async ValueTask<ShadowDescriptorContent> GetAsync(ShadowAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        CountUsesOnceConnected();
        var content = await inner.GetAsync(address, cancellationToken).ConfigureAwait(false);
        var key = pool.KeyOf(address) ?? throw new ShadowIntroductionUnavailableException($"{address.ToUri()} is not in the pool");
        // Points the source no longer chooses (their relay left the directory) lose their registration.
        List<Registration> dropped;
        lock (_gate)
        {
            dropped = [.. _registrations.Where(r => r.Key.Address.Equals(address)
                && !content.IntroductionPoints.Any(p => p.Relay.Equals(r.Key.Relay) && p.AuthKey.Span.SequenceEqual(r.Value.AuthKey)))
                .Select(r => r.Value)];
            foreach (var gone in dropped) _registrations.Remove((address, gone.Relay));
        }
        foreach (var gone in dropped) await gone.CloseAsync().ConfigureAwait(false);
        var outcomes = await Task.WhenAll(content.IntroductionPoints.Select(p => EnsureAsync(address, key, p))).WaitAsync(cancellationToken)
            .ConfigureAwait(false);
        var live = content.IntroductionPoints.Where((_, i) => outcomes[i] is null).ToList();
        if (live.Count == 0)
            throw new ShadowIntroductionUnavailableException(
                $"no introduction point accepted a registration: {string.Join("; ", outcomes.Where(o => o is not null))}");
        // A descriptor without the retired points goes out now: they introduce for the grace period, then close.
        List<Registration> retire;
        lock (_gate)
        {
            retire = [.. _retiring.Where(r => r.Address.Equals(address) && !r.Registration.GraceStarted).Select(r => r.Registration)];
            foreach (var registration in retire) registration.GraceStarted = true;
        }
        foreach (var registration in retire) _ = CloseAfterGraceAsync(address, registration);
        return new ShadowDescriptorContent(live);
    }

    public void Forget(ShadowAddress address)
    {
        inner.Forget(address);
        List<Registration> gone;
        lock (_gate)
        {
            gone = [.. _registrations.Where(r => r.Key.Address.Equals(address)).Select(r => r.Value)];
            foreach (var registration in gone) _registrations.Remove((address, registration.Relay));
        }
        lock (_gate)
        {
            gone.AddRange(_retiring.Where(r => r.Address.Equals(address)).Select(r => r.Registration));
            _retiring.RemoveAll(r => r.Address.Equals(address));
        }
        foreach (var registration in gone) _ = registration.CloseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Interlocked.Exchange(ref _onConnected, NoSubscription)?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        List<Registration> all;
        lock (_gate)
        {
            all = [.. _registrations.Values, .. _retiring.Select(r => r.Registration)];
            _registrations.Clear();
            _retiring.Clear();
        }
        foreach (var registration in all) await registration.CloseAsync().ConfigureAwait(false);
    }

    // Null when the point has a live registration (made now or before), else why not.
    private async Task<string?> EnsureAsync(ShadowAddress address, ShadowKey key, IntroductionPoint point)
    {
        Registration registration;
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested) return "stopping";
            if (!_registrations.TryGetValue((address, point.Relay), out registration!)
                || registration.HasEnded)
            {
                registration = new Registration(point.Relay, point.AuthKey.ToArray());
                registration.Task = EstablishAsync(address, key, registration);
                _registrations[(address, point.Relay)] = registration;
            }
        }
        try
        {
            await registration.Task.ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is CircuitException or OnionFormatException or ResourceLimitExceededException or OperationCanceledException
            or ObjectDisposedException)
        {
            return $"{point.Relay}: {e.Message}";
        }
    }

    private async Task<IntroductionCircuit> EstablishAsync(ShadowAddress address, ShadowKey key, Registration registration)
    {
        await Task.Yield();
        var circuit = await onion.EstablishIntroductionAsync(registration.Relay, registration.AuthKey, key.ServiceIdentity,
            raw => Accept(address, raw), _requiredFilters, _stopping.Token).ConfigureAwait(false);
        LogRegistered(registration.Relay, circuit.CircuitId);
        _ = circuit.Completion.ContinueWith(_ => Reestablish(address, registration), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        _ = RenewAtEndOfLifetimeAsync(address, registration);
        return circuit;
    }

    /// <summary>
    /// Renews the introduction points of <paramref name="address"/> now (what the end of their lifetime does): its
    /// registrations retire but keep introducing, the source chooses new points, and <see cref="Changed"/> tells the
    /// publisher, which registers them and publishes a descriptor with them; the retired ones close
    /// <see cref="ShadowPublisherOptions.IntroductionRetireGrace"/> after that descriptor was handed out.
    /// </summary>
    /// <returns>False when the address has no registration to renew.</returns>
    public bool Renew(ShadowAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested) return false;
            var current = _registrations.Where(r => r.Key.Address.Equals(address)).ToList();
            if (current.Count == 0) return false;
            foreach (var (key, registration) in current)
            {
                _registrations.Remove(key);
                _retiring.Add((address, registration));
            }
        }
        inner.Forget(address);
        metrics.IntroductionRotation();
        LogRenewed(address.ToUri());
        Changed?.Invoke(address);
        return true;
    }

    // The registration's lifetime: if it still stands for the address then, the address's points are renewed (all of
    // them at once, so that one new descriptor carries the new set).
    private async Task RenewAtEndOfLifetimeAsync(ShadowAddress address, Registration registration)
    {
        try
        {
            await Task.Delay(_lifetime, _time, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        lock (_gate)
        {
            if (!_registrations.TryGetValue((address, registration.Relay), out var current) || !ReferenceEquals(current, registration)) return;
        }
        Renew(address);
    }

    private async Task CloseAfterGraceAsync(ShadowAddress address, Registration registration)
    {
        try
        {
            await Task.Delay(_grace, _time, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return; // disposed: everything closes there
        }
        bool mine;
        lock (_gate) mine = _retiring.Remove((address, registration));
        if (mine) await registration.CloseAsync().ConfigureAwait(false);
    }

    // The circuit under a registration ended: the same relay and auth key again, while the address is still served.
    private void Reestablish(ShadowAddress address, Registration ended)
    {
        if (_stopping.IsCancellationRequested || pool.KeyOf(address) is not { } key) return;
        lock (_gate)
        {
            if (!_registrations.TryGetValue((address, ended.Relay), out var current) || !ReferenceEquals(current, ended)) return;
        }
        LogLost(ended.Relay);
        _ = EnsureAsync(address, key, new IntroductionPoint(ended.Relay, [], ended.AuthKey));
    }

    private bool Accept(ShadowAddress address, IRawConnection raw)
    {
        bool accepted = pool.KeyOf(address) is not null && listeners.TryAccept(raw);
        metrics.Introduction(accepted ? "accepted" : "refused");
        if (accepted && events is null) pool.RecordUse(address); // no event bus: counted at the introduction
        return accepted;
    }

    private static readonly IDisposable NoSubscription = new CancellationTokenSource();

    // A use is a connection whose handshake completed under the address's service identity, not an introduction: a
    // flood of introductions that never complete a handshake must not spend the address's uses and force its rotation.
    private void CountUsesOnceConnected()
    {
        if (events is null || Volatile.Read(ref _onConnected) is not null) return;
        var subscription = events.Subscribe<AnonymousConnectionOpened>(e => CountUse(e.Connection));
        if (Interlocked.CompareExchange(ref _onConnected, subscription, null) is not null) subscription.Dispose();
    }

    private void CountUse(IConnection connection)
    {
        if (connection.Direction != Direction.Inbound) return;
        foreach (var entry in pool.List())
        {
            if (pool.KeyOf(entry.Address) is { } key && key.ServiceIdentity.PeerId.Equals(connection.LocalPeer))
            {
                pool.RecordUse(entry.Address);
                return;
            }
        }
    }

    private sealed class Registration(PeerId relay, byte[] authKey)
    {
        public PeerId Relay { get; } = relay;

        public byte[] AuthKey { get; } = authKey;

        public Task<IntroductionCircuit> Task { get; set; } = null!;

        /// <summary>Retired, and a descriptor without it handed out: it closes at the end of the grace.</summary>
        public bool GraceStarted { get; set; }

        /// <summary>Registered, and its circuit still open.</summary>
        public bool IsLive => Task.IsCompletedSuccessfully && !Task.Result.IsClosed;

        /// <summary>Failed, cancelled, or registered on a circuit that has closed since (not merely still pending).</summary>
        public bool HasEnded => Task.IsCompleted && !IsLive;

        public async Task CloseAsync()
        {
            try
            {
                var circuit = await Task.ConfigureAwait(false);
                await circuit.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is CircuitException or OnionFormatException or ResourceLimitExceededException or OperationCanceledException
                or ObjectDisposedException)
            {
                // It never stood.
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Shadow introduction registered at {Relay} over circuit {Circuit}")]
    private partial void LogRegistered(PeerId relay, string circuit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Introduction points of {Address} renewed at the end of their lifetime")]
    private partial void LogRenewed(string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "Shadow introduction circuit to {Relay} ended; registering again")]
    private partial void LogLost(PeerId relay);
}
