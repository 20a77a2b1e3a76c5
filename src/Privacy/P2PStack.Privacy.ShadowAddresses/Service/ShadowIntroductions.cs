using Microsoft.Extensions.Logging;
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
/// the address's service identity (<see cref="ShadowKey.ServiceIdentity"/>, never the node's) and counted as a use of
/// the address (rotation after N uses). A registration whose circuit ends is re-established with the same relay and
/// auth key, so published descriptors stay valid.
/// </summary>
public sealed partial class ShadowIntroductions(IShadowIntroductionSource inner, OnionClient onion, OnionListeners listeners,
    ShadowAddressPool pool, ShadowMetrics metrics, ILogger<ShadowIntroductions> logger) : IShadowIntroductionSource, IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(ShadowAddress Address, PeerId Relay), Registration> _registrations = [];
    private readonly CancellationTokenSource _stopping = new();

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
        foreach (var registration in gone) _ = registration.CloseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        List<Registration> all;
        lock (_gate)
        {
            all = [.. _registrations.Values];
            _registrations.Clear();
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
            raw => Accept(address, raw), _stopping.Token).ConfigureAwait(false);
        LogRegistered(registration.Relay, circuit.CircuitId);
        _ = circuit.Completion.ContinueWith(_ => Reestablish(address, registration), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return circuit;
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
        if (accepted) pool.RecordUse(address);
        return accepted;
    }

    private sealed class Registration(PeerId relay, byte[] authKey)
    {
        public PeerId Relay { get; } = relay;

        public byte[] AuthKey { get; } = authKey;

        public Task<IntroductionCircuit> Task { get; set; } = null!;

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

    [LoggerMessage(Level = LogLevel.Information, Message = "Shadow introduction circuit to {Relay} ended; registering again")]
    private partial void LogLost(PeerId relay);
}
