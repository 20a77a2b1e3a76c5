using System.Collections.Immutable;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Nat.Relay;

/// <summary>
/// Keeps the node reachable through relays: holds reservations on the static relays
/// and, with <see cref="RelayClientOptions.AutoRelay"/>, on connected relays once AutoNAT finds the node private (up to
/// <see cref="RelayClientOptions.MaxReservations"/>), refreshes each before it expires, and keeps the address manager's
/// relay addresses in step (added on a reservation, removed when it is lost). For each reservation the host listens on
/// the relay's circuit address (<c>&lt;relay&gt;/p2p/R/p2p-circuit</c>), where the relay's stop requests arrive. A lost
/// relay is tried again after
/// <see cref="RelayClientOptions.RetryInterval"/>.
/// </summary>
public sealed partial class RelayReservationManager : IHostedService, IAsyncDisposable
{
    private const string ProtectTag = "relay-reservation-client";
    private readonly IPeerHost _host;
    private readonly RelayClient _client;
    private readonly CircuitRelayTransport _transport;
    private readonly RelayClientOptions _options;
    private readonly RelayMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _serial = new(1, 1); // one round or reservation at a time
    private readonly Dictionary<PeerId, DateTimeOffset> _retryAfter = [];
    private ImmutableDictionary<PeerId, RelayReservation> _reservations = ImmutableDictionary<PeerId, RelayReservation>.Empty;
    private readonly Dictionary<PeerId, IHostListener> _listeners = [];
    private IDisposable? _onDisconnect;
    private IDisposable? _onReachability;
    private int _reachability = (int)Reachability.Unknown;
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    public RelayReservationManager(IPeerHost host, RelayClient client, CircuitRelayTransport transport, IOptions<RelayClientOptions> options,
        RelayMetrics? metrics = null, ILogger<RelayReservationManager>? logger = null, TimeProvider? timeProvider = null)
    {
        _host = host;
        _client = client;
        _transport = transport;
        _options = options.Value;
        _metrics = metrics;
        _metrics?.ObserveClient(() => _reservations.Count);
        _logger = logger ?? NullLogger<RelayReservationManager>.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The reservations held now.</summary>
    public IReadOnlyCollection<RelayReservation> Reservations => _reservations.Values.ToList();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_loop is not null) return Task.CompletedTask;
        _onDisconnect = _host.Events.Subscribe<PeerDisconnected>(e =>
        {
            if (_reservations.ContainsKey(e.Connection.RemotePeer)) Wake();
        });
        _onReachability = _host.Events.Subscribe<ReachabilityChanged>(e =>
        {
            Interlocked.Exchange(ref _reachability, (int)e.Node);
            Wake();
        });
        _stopping = new CancellationTokenSource();
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null) return;
        _onDisconnect?.Dispose();
        _onReachability?.Dispose();
        await _stopping!.CancelAsync().ConfigureAwait(false);
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        _loop = null;
        _stopping.Dispose();
        foreach (var relay in _reservations.Keys) await DropAsync(relay).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _wake.Dispose();
        _serial.Dispose();
    }

    /// <summary>Reserves on the relay at once (a CLI command, a test); the manager then keeps it refreshed.</summary>
    public async Task<RelayReservation> ReserveAsync(Multiaddr relayAddress, CancellationToken cancellationToken)
    {
        var relay = relayAddress.GetPeerId() ?? throw new ArgumentException($"{relayAddress} has no /p2p", nameof(relayAddress));
        await _serial.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await ReserveAsync(relay, relayAddress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _serial.Release();
        }
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0) _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // already awake
        }
        catch (ObjectDisposedException)
        {
            // stopped
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            TimeSpan next;
            try
            {
                await _serial.WaitAsync(stopping).ConfigureAwait(false);
                try
                {
                    next = await MaintainAsync(stopping).ConfigureAwait(false);
                }
                finally
                {
                    _serial.Release();
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            try
            {
                await _wake.WaitAsync(next, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: drops lost reservations, refreshes due ones, reserves on wanted relays; returns when to come back.</summary>
    private async Task<TimeSpan> MaintainAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var next = _options.RetryInterval;
        foreach (var (relay, reservation) in _reservations)
        {
            if (!_host.GetConnections(relay).Any(c => c.IsDirect) || reservation.Expire <= now) await DropAsync(relay).ConfigureAwait(false);
        }
        foreach (var (relay, address) in Wanted())
        {
            if (_retryAfter.TryGetValue(relay, out var retry) && retry > now) continue;
            if (_reservations.TryGetValue(relay, out var held) && held.Expire - _options.RefreshMargin > now)
            {
                var due = held.Expire - _options.RefreshMargin - now;
                if (due < next) next = due;
                continue;
            }
            try
            {
                var reservation = await ReserveAsync(relay, address, cancellationToken).ConfigureAwait(false);
                var due = reservation.Expire - _options.RefreshMargin - _time.GetUtcNow();
                if (due < next) next = due;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OutOfMemoryException)
            {
                LogReserveFailed(relay, ex.Message);
                await DropAsync(relay).ConfigureAwait(false);
                _retryAfter[relay] = _time.GetUtcNow() + _options.RetryInterval;
            }
        }
        return next < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : next;
    }

    /// <summary>The static relays, then (when AutoNAT says private) connected relays, up to the limit.</summary>
    private List<(PeerId Relay, Multiaddr? Address)> Wanted()
    {
        var wanted = new List<(PeerId, Multiaddr?)>();
        foreach (var address in _options.StaticRelays)
        {
            if (wanted.Count >= _options.MaxReservations) break;
            wanted.Add((address.GetPeerId()!, address));
        }
        if (_options.AutoRelay && (Reachability)Volatile.Read(ref _reachability) == Reachability.Private)
        {
            var relays = _host.GetConnections().Where(c => c.IsDirect).Select(c => c.RemotePeer).Distinct()
                .Where(p => _host.PeerStore.GetProtocols(p).Contains(RelayProtocol.Hop));
            foreach (var relay in relays)
            {
                if (wanted.Count >= _options.MaxReservations) break;
                if (wanted.All(w => !w.Item1.Equals(relay))) wanted.Add((relay, null));
            }
        }
        return wanted;
    }

    private async Task<RelayReservation> ReserveAsync(PeerId relay, Multiaddr? address, CancellationToken cancellationToken)
    {
        var direct = new DialOptions { ForceDirect = true };
        var connection = address is not null && address.Components.Count > 1
            ? await _host.DialAsync(address, direct, cancellationToken).ConfigureAwait(false)
            : await _host.DialAsync(relay, direct, cancellationToken).ConfigureAwait(false);
        _transport.TrustRelay(relay); // before the answer: a circuit may arrive right after it
        var reservation = await _client.ReserveAsync(connection, cancellationToken).ConfigureAwait(false);
        bool isNew = !_reservations.TryGetValue(relay, out var previous);
        ImmutableInterlocked.AddOrUpdate(ref _reservations, relay, reservation, (_, _) => reservation);
        _retryAfter.Remove(relay);
        _host.ConnectionManager.Protect(relay, ProtectTag);
        if (previous is not null)
        {
            foreach (var gone in previous.CircuitAddresses.Except(reservation.CircuitAddresses)) _host.AddressManager.RemoveRelayAddress(gone);
        }
        foreach (var circuit in reservation.CircuitAddresses.Where(a => !AddressScope.IsRelayed(a.DecapsulateCode(MultiaddrProtocols.P2PCircuit.Code))))
        {
            try
            {
                _host.AddressManager.AddRelayAddress(circuit);
            }
            catch (ResourceLimitExceededException)
            {
                break; // the address manager holds enough relay addresses
            }
        }
        if (!_listeners.ContainsKey(relay))
        {
            // Stop requests of this relay come to this listener; its address is the circuit address through the
            // relay address we reached it at.
            var remote = connection.RemoteAddress.GetPeerId() is null ? connection.RemoteAddress.Encapsulate($"/p2p/{relay}") : connection.RemoteAddress;
            _listeners[relay] = await _host.ListenAsync(remote.Encapsulate(CircuitRelayTransport.AnyRelay), cancellationToken).ConfigureAwait(false);
        }
        if (isNew) LogReserved(relay, reservation.Expire, reservation.Limit);
        return reservation;
    }

    private async Task DropAsync(PeerId relay)
    {
        if (_listeners.Remove(relay, out var listener)) await listener.DisposeAsync().ConfigureAwait(false);
        if (!ImmutableInterlocked.TryRemove(ref _reservations, relay, out var reservation)) return;
        foreach (var circuit in reservation.CircuitAddresses) _host.AddressManager.RemoveRelayAddress(circuit);
        _host.ConnectionManager.Unprotect(relay, ProtectTag);
        if (!_options.StaticRelays.Any(a => relay.Equals(a.GetPeerId()))) _transport.ForgetRelay(relay);
        LogDropped(relay);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Relay: reserved on {Relay} until {Expire} ({Limit})")]
    private partial void LogReserved(PeerId relay, DateTimeOffset expire, RelayLimit limit);

    [LoggerMessage(Level = LogLevel.Information, Message = "Relay: reservation on {Relay} failed: {Reason}")]
    private partial void LogReserveFailed(PeerId relay, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Relay: reservation on {Relay} ended")]
    private partial void LogDropped(PeerId relay);
}
