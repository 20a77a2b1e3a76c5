using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Host.Metrics;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// The libp2p host: listens, dials (with timeouts from options, cancellation and coalescing of simultaneous dials to
/// one peer), upgrades connections, routes inbound streams to protocol handlers, and enforces limits and gaters.
/// </summary>
public sealed partial class PeerHost : IPeerHost, IAsyncDisposable
{
    /// <summary>How long addresses learned from a successful dial stay in the peer store.</summary>
    public static readonly TimeSpan ConnectedAddressTtl = TimeSpan.FromMinutes(30);

    private readonly ILocalIdentity _identity;
    private readonly ITransport[] _transports;
    private readonly Upgrader _upgrader;
    private readonly ProtocolRegistry _registry;
    private readonly IConnectionGater[] _gaters;
    private readonly HostOptions _options;
    private readonly ILogger<PeerHost> _logger;
    private readonly ConnectionManager _connectionManager;
    private readonly HostMetrics _metrics;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, List<HostConnection>> _connections = [];
    private readonly Dictionary<PeerId, PendingDial> _pendingDials = [];
    private readonly List<(IListener Listener, Task Loop)> _listeners = [];
    private int _connectionCount;
    private int _pendingInbound;
    private readonly Dictionary<System.Net.IPAddress, int> _pendingInboundByIp = [];
    private int _started;
    private int _stopped;

    public PeerHost(ILocalIdentity identity, IEnumerable<ITransport> transports, Upgrader upgrader,
        ProtocolRegistry registry, IPeerStore peerStore, IEventBus events, IEnumerable<IConnectionGater> gaters,
        IOptions<HostOptions> options, ILogger<PeerHost> logger, IMeterFactory? meterFactory = null)
    {
        _identity = identity;
        _transports = [.. transports];
        _upgrader = upgrader;
        _registry = registry;
        _gaters = [.. gaters];
        _options = options.Value;
        _logger = logger;
        PeerStore = peerStore;
        Events = events;
        _connectionManager = new ConnectionManager(_options.ConnectionManager, GetConnections, logger);
        // Instruments on the "P2PStack.Host" meter; the factory scopes them to this container (see docs/metrics.md).
        _metrics = new HostMetrics(meterFactory, GetConnections, peerStore, _options.Metrics);
    }

    public PeerId PeerId => _identity.PeerId;

    public IReadOnlyList<Multiaddr> ListenAddresses
    {
        get
        {
            lock (_gate) return [.. _listeners.Select(l => l.Listener.ListenAddress)];
        }
    }

    public IReadOnlyList<Multiaddr> AdvertisedAddresses =>
        _options.AnnounceAddresses.Count > 0 ? [.. _options.AnnounceAddresses] : AddressExpansion.Expand(ListenAddresses);

    public IPeerStore PeerStore { get; }

    public IEventBus Events { get; }

    public IConnectionManager ConnectionManager => _connectionManager;

    public IReadOnlyCollection<string> Protocols => _registry.Protocols;

    /// <summary>Security protocols offered, in preference order.</summary>
    public IReadOnlyList<string> SecurityProtocols => _upgrader.SecurityProtocols;

    public IDisposable AddHandler(IProtocolHandler handler)
    {
        var registration = _registry.Add(handler);
        Events.Publish(new LocalProtocolsChanged(_registry.Protocols));
        return new Unregistration(() =>
        {
            registration.Dispose();
            Events.Publish(new LocalProtocolsChanged(_registry.Protocols));
        });
    }

    private sealed class Unregistration(Action undo) : IDisposable
    {
        private Action? _undo = undo;

        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("the host is already started");
        _ = _registry.Protocols; // resolve the DI handlers now, so their event subscriptions exist before any connection
        foreach (var address in _options.ListenAddresses)
        {
            var transport = _transports.FirstOrDefault(t => t.CanListen(address))
                ?? throw new NotSupportedException($"no registered transport can listen on {address}");
            var listener = await transport.ListenAsync(address, cancellationToken).ConfigureAwait(false);
            lock (_gate) _listeners.Add((listener, AcceptLoopAsync(listener, transport.Name)));
            LogListening(listener.ListenAddress.ToString());
        }
        _ = ConnectionManagerLoopAsync(_lifetime.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        (IListener, Task)[] listeners;
        lock (_gate) listeners = [.. _listeners];
        foreach (var (listener, _) in listeners) await listener.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(listeners.Select(l => l.Item2)).WaitAsync(cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(GetConnections().Select(c => c.CloseAsync(cancellationToken).AsTask())).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _stopped) == 0)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Connections that did not close in time are aborted with their sessions.
            }
        }
        _metrics.Dispose();
    }

    public IReadOnlyList<IConnection> GetConnections()
    {
        lock (_gate) return [.. _connections.Values.SelectMany(c => c)];
    }

    public IReadOnlyList<IConnection> GetConnections(PeerId peer)
    {
        lock (_gate) return _connections.TryGetValue(peer, out var list) ? [.. list] : [];
    }

    public async ValueTask DisconnectAsync(PeerId peer, CancellationToken cancellationToken)
    {
        foreach (var connection in GetConnections(peer))
            await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols,
        CancellationToken cancellationToken)
    {
        var connection = await DialAsync(peer, cancellationToken).ConfigureAwait(false);
        return await connection.OpenStreamAsync(protocols, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<IConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken) =>
        DialAsync(address, DialOptions.Default, cancellationToken);

    public ValueTask<IConnection> DialAsync(PeerId peer, CancellationToken cancellationToken) =>
        DialPeerAsync(peer, null, DialOptions.Default, cancellationToken);

    public ValueTask<IConnection> DialAsync(Multiaddr address, DialOptions options, CancellationToken cancellationToken)
    {
        var peer = address.GetPeerId();
        var transportAddress = peer is null ? address : address.DecapsulateCode(MultiaddrProtocols.P2P.Code);
        if (peer is null) return DialUnknownPeerAsync(transportAddress, options, cancellationToken);
        return DialPeerAsync(peer, [transportAddress], options, cancellationToken);
    }

    public ValueTask<IConnection> DialAsync(PeerId peer, DialOptions options, CancellationToken cancellationToken) =>
        DialPeerAsync(peer, null, options, cancellationToken);

    private async ValueTask<IConnection> DialUnknownPeerAsync(Multiaddr address, DialOptions options,
        CancellationToken cancellationToken) =>
        await DialAddressAsync(address, null, options, cancellationToken).ConfigureAwait(false);

    private async ValueTask<IConnection> DialPeerAsync(PeerId peer, IReadOnlyList<Multiaddr>? addresses,
        DialOptions options, CancellationToken cancellationToken)
    {
        if (peer.Equals(PeerId)) throw new InvalidOperationException("a host cannot dial itself");
        if (FindReusable(peer, options) is { } existing) return existing;
        if (!ReferenceEquals(options, DialOptions.Default))
        {
            // Constrained dials get their own attempt: a shared one might not satisfy them.
            return await DialAnyAsync(peer, addresses, options, cancellationToken).ConfigureAwait(false);
        }
        PendingDial pending;
        lock (_gate)
        {
            if (!_pendingDials.TryGetValue(peer, out pending!))
            {
                pending = new PendingDial(_lifetime.Token);
                _pendingDials[peer] = pending;
                var started = pending;
                pending.Start(token => DialAnyAsync(peer, addresses, options, token), () =>
                {
                    lock (_gate)
                    {
                        // Only this attempt: a newer one may already stand for the peer.
                        if (_pendingDials.TryGetValue(peer, out var current) && ReferenceEquals(current, started))
                            _pendingDials.Remove(peer);
                    }
                });
            }
        }
        return await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<IConnection> DialAnyAsync(PeerId peer, IReadOnlyList<Multiaddr>? addresses, DialOptions options,
        CancellationToken token)
    {
        addresses ??= PeerStore.GetAddresses(peer);
        if (addresses.Count == 0) throw new DialFailedException($"no addresses known for peer {peer}", []);
        var errors = new List<DialAttemptError>();
        foreach (var address in addresses)
        {
            token.ThrowIfCancellationRequested();
            // An inbound connection may have arrived meanwhile.
            if (FindReusable(peer, options) is { } existing) return existing;
            try
            {
                return await DialAddressAsync(address, peer, options, token).ConfigureAwait(false);
            }
            catch (Exception ex) when (!token.IsCancellationRequested && ex is not PeerIdMismatchException)
            {
                errors.Add(new DialAttemptError(address, ex));
            }
        }
        // One address: its own error says most (timeout, refusal, gater) and keeps its type.
        if (errors.Count == 1) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[0].Error);
        throw new DialFailedException($"could not dial peer {peer}", errors);
    }

    // One attempt to one address (gater, transport, upgrade), counted by transport and failure reason.
    private async Task<IConnection> DialAddressAsync(Multiaddr address, PeerId? expectedPeer, DialOptions options,
        CancellationToken token)
    {
        var transport = _transports.FirstOrDefault(t => t.CanDial(address));
        string transportName = transport?.Name ?? "none";
        _metrics.DialAttempted(transportName);
        try
        {
            Gate("dial", g => g.InterceptDial(expectedPeer, address));
            if (transport is null) throw new NotSupportedException($"no registered transport can dial {address}");
            return await DialTransportAsync(transport, address, expectedPeer, options, token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _metrics.DialFailed(transportName, ex);
            throw;
        }
    }

    private async Task<IConnection> DialTransportAsync(ITransport transport, Multiaddr address, PeerId? expectedPeer,
        DialOptions options, CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token, _lifetime.Token);
        timeout.CancelAfter(_options.DialTimeout);
        try
        {
            var raw = _metrics.CountTraffic(await transport.DialAsync(address, timeout.Token).ConfigureAwait(false), transport.Name);
            UpgradedConnection upgraded;
            try
            {
                upgraded = await _upgrader.UpgradeOutboundAsync(raw, expectedPeer, options.SecurityProtocols, timeout.Token)
                    .ConfigureAwait(false);
            }
            catch
            {
                raw.Abort();
                await raw.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            return await AddConnectionAsync(upgraded, transport.Name).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            throw new TimeoutException($"dialing {address} timed out after {_options.DialTimeout.TotalSeconds:0.###} s");
        }
    }

    private async Task AcceptLoopAsync(IListener listener, string transportName)
    {
        var token = _lifetime.Token;
        var backoff = TimeSpan.Zero;
        while (!token.IsCancellationRequested)
        {
            IRawConnection raw;
            try
            {
                raw = await listener.AcceptAsync(token).ConfigureAwait(false);
                backoff = TimeSpan.Zero;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex)
            {
                // A persistent failure (out of file descriptors) must not spin: back off up to a second, as Go's
                // net package does.
                LogAcceptFailed(listener.ListenAddress.ToString(), ex.Message);
                backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(5) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.TicksPerSecond));
                try
                {
                    await Task.Delay(backoff, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            if (TryAdmitInbound(raw) is { } refusal)
            {
                _metrics.InboundRefused(refusal.Label);
                LogInboundRefused(raw.RemoteAddress.ToString(), refusal.Reason);
                raw.Abort();
                await raw.DisposeAsync().ConfigureAwait(false);
                continue;
            }
            _ = UpgradeInboundAsync(_metrics.CountTraffic(raw, transportName), transportName, token);
        }
    }

    /// <summary>Reserves a handshake slot (global and per IP) and asks the gaters; returns why not (with its metric
    /// label), or null.</summary>
    private (string Label, string Reason)? TryAdmitInbound(IRawConnection raw)
    {
        var ip = AdmissionGroup(raw.RemoteAddress.GetIPAddress());
        lock (_gate)
        {
            if (_pendingInbound >= _options.Limits.MaxPendingInbound) return ("pending_limit", "too many connections in their handshake");
            if (ip is not null && _pendingInboundByIp.GetValueOrDefault(ip) >= _options.Limits.MaxPendingInboundPerIp)
                return ("pending_limit", $"too many connections in their handshake from {ip}");
        }
        foreach (var gater in _gaters)
        {
            GateDecision decision;
            try
            {
                decision = gater.InterceptAccept(raw.LocalAddress, raw.RemoteAddress);
            }
            catch (Exception ex)
            {
                return ("gated", $"gater {gater.GetType().Name} failed: {ex.Message}");
            }
            if (!decision.Allowed) return ("gated", decision.Reason ?? "denied by a gater");
        }
        lock (_gate)
        {
            _pendingInbound++;
            if (ip is not null) _pendingInboundByIp[ip] = _pendingInboundByIp.GetValueOrDefault(ip) + 1;
        }
        return null;
    }

    /// <summary>
    /// What the per-IP pending limit counts by: the IPv4 address, or the /64 of an IPv6 address (one host usually
    /// holds a whole /64, so counting single IPv6 addresses would not limit it at all).
    /// </summary>
    internal static System.Net.IPAddress? AdmissionGroup(System.Net.IPAddress? ip)
    {
        if (ip is null) return null;
        if (ip.IsIPv4MappedToIPv6) return ip.MapToIPv4();
        if (ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return ip;
        Span<byte> bytes = stackalloc byte[16];
        ip.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new System.Net.IPAddress(bytes);
    }

    private void ReleaseInbound(IRawConnection raw)
    {
        var ip = AdmissionGroup(raw.RemoteAddress.GetIPAddress());
        lock (_gate)
        {
            _pendingInbound--;
            if (ip is null || !_pendingInboundByIp.TryGetValue(ip, out int count)) return;
            if (count <= 1) _pendingInboundByIp.Remove(ip);
            else _pendingInboundByIp[ip] = count - 1;
        }
    }

    private async Task UpgradeInboundAsync(IRawConnection raw, string transportName, CancellationToken token)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(_options.InboundUpgradeTimeout);
            var upgraded = await _upgrader.UpgradeInboundAsync(raw, timeout.Token).ConfigureAwait(false);
            await AddConnectionAsync(upgraded, transportName).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _metrics.InboundRefused(HostMetrics.FailureReason(ex));
            LogInboundRefused(raw.RemoteAddress.ToString(), ex.Message);
            await raw.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            ReleaseInbound(raw);
        }
    }

    private async Task<IConnection> AddConnectionAsync(UpgradedConnection upgraded, string transportName)
    {
        var peer = upgraded.Secure.RemotePeer;
        var connection = new HostConnection(upgraded, transportName, _registry, _options, _logger, _metrics, Forget);
        Exception? refusal = null;
        lock (_gate)
        {
            _connections.TryGetValue(peer, out var list);
            if (_lifetime.IsCancellationRequested)
                refusal = new OperationCanceledException("the host is stopping");
            else if (_connectionCount >= _options.Limits.MaxConnections)
                refusal = new ResourceLimitExceededException("host", "connections", _options.Limits.MaxConnections);
            else if (list is not null && list.Count >= _options.Limits.MaxConnectionsPerPeer)
                refusal = new ResourceLimitExceededException($"peer {peer}", "connections", _options.Limits.MaxConnectionsPerPeer);
            else
            {
                if (list is null) _connections[peer] = list = [];
                list.Add(connection);
                _connectionCount++;
            }
        }
        if (refusal is not null)
        {
            await upgraded.Session.DisposeAsync().ConfigureAwait(false);
            throw refusal;
        }

        try
        {
            PeerStore.AddPublicKey(peer, upgraded.Secure.RemotePublicKey);
            if (connection.Direction == Direction.Outbound)
                PeerStore.AddAddresses(peer, [connection.RemoteAddress], ConnectedAddressTtl);
        }
        catch (Exception ex)
        {
            // A failing store (disk full) must not leave a registered connection that never runs.
            LogPeerStoreFailed(peer, ex.Message);
        }
        LogConnected(connection.Direction, peer, connection.RemoteAddress.ToString(), connection.SecurityProtocol, connection.Muxer);
        // Connected is published before the connection runs, so Disconnected can never overtake it.
        _metrics.ConnectionOpened(connection);
        Events.Publish(new PeerConnected(connection));
        _ = RunConnectionAsync(connection);
        _ = _connectionManager.TrimIfNeededAsync(_lifetime.Token);
        return connection;
    }

    private async Task RunConnectionAsync(HostConnection connection)
    {
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            Forget(connection); // done already as the connection closed; kept for a run that ended any other way
            LogDisconnected(connection.RemotePeer, connection.RemoteAddress.ToString());
            Events.Publish(new PeerDisconnected(connection));
        }
    }

    // Called by the connection as it closes, before its Completion completes: once a close or Completion has been
    // awaited, the connection is no longer listed, counted or handed out.
    private void Forget(HostConnection connection)
    {
        lock (_gate)
        {
            if (_connections.TryGetValue(connection.RemotePeer, out var list) && list.Remove(connection))
            {
                _connectionCount--;
                if (list.Count == 0)
                {
                    _connections.Remove(connection.RemotePeer);
                    _connectionManager.Forget(connection.RemotePeer);
                }
            }
        }
    }

    private async Task ConnectionManagerLoopAsync(CancellationToken token)
    {
        try
        {
            using var timer = new PeriodicTimer(_options.ConnectionManager.CheckInterval);
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
                await _connectionManager.TrimIfNeededAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // host stopped
        }
    }

    private IConnection? FindReusable(PeerId peer, DialOptions options)
    {
        lock (_gate)
        {
            return _connections.TryGetValue(peer, out var list)
                ? list.FirstOrDefault(c => !c.IsClosing && options.IsSatisfiedBy(c))
                : null;
        }
    }

    private void Gate(string stage, Func<IConnectionGater, GateDecision> intercept)
    {
        foreach (var gater in _gaters)
        {
            var decision = intercept(gater);
            if (!decision.Allowed) throw new ConnectionGatedException(stage, decision.Reason ?? "denied");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Updating the peer store for {Peer} failed: {Reason}")]
    private partial void LogPeerStoreFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening on {Address}")]
    private partial void LogListening(string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accepting on {Address} failed: {Reason}")]
    private partial void LogAcceptFailed(string address, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Inbound connection from {Address} refused: {Reason}")]
    private partial void LogInboundRefused(string address, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Direction} connection with {Peer} at {Address} ({Security}, {Muxer})")]
    private partial void LogConnected(Direction direction, PeerId peer, string address, string security, string muxer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Disconnected from {Peer} at {Address}")]
    private partial void LogDisconnected(PeerId peer, string address);
}
