using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Host.Metrics;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>Listening: listeners bound at start or later, the accept loops, admission of inbound connections, their
/// upgrade (or, for the peer's half of a simultaneous open, the upgrade in the waiting dial's role).</summary>
public sealed partial class PeerHost
{
    public async ValueTask<IHostListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (Volatile.Read(ref _started) == 0) throw new InvalidOperationException("the host is not started");
        if (Volatile.Read(ref _stopped) != 0) throw new InvalidOperationException("the host is stopped");
        return await ListenCoreAsync(address, cancellationToken).ConfigureAwait(false);
    }

    private async Task<HostListener> ListenCoreAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        var transport = _transports.ForListen(address)
            ?? throw new NotSupportedException($"no registered transport can listen on {address}");
        var listener = await transport.ListenAsync(address, cancellationToken).ConfigureAwait(false);
        var hostListener = new HostListener(this, listener, transport);
        lock (_gate) _listeners.Add(hostListener);
        _addresses.AddListenAddress(listener.ListenAddress);
        LogListening(listener.ListenAddress.ToString());
        _background.Run(token => AcceptLoopAsync(listener, transport, token));
        return hostListener;
    }

    private async ValueTask StopListeningAsync(HostListener listener)
    {
        lock (_gate) _listeners.Remove(listener);
        _addresses.RemoveListenAddress(listener.Address);
        await listener.Listener.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A listener the host accepts on.</summary>
    private sealed class HostListener(PeerHost host, IListener listener, ITransport transport) : IHostListener
    {
        private int _disposed;

        public IListener Listener { get; } = listener;

        public ITransport Transport { get; } = transport;

        public Multiaddr Address { get; } = listener.ListenAddress;

        public ValueTask DisposeAsync() =>
            Interlocked.Exchange(ref _disposed, 1) == 0 ? host.StopListeningAsync(this) : ValueTask.CompletedTask;
    }

    private async Task AcceptLoopAsync(IListener listener, ITransport transport, CancellationToken token)
    {
        var backoff = TimeSpan.Zero;
        while (!token.IsCancellationRequested)
        {
            IRawConnection raw;
            ConnectionScope? resources = null;
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
            var transportInfo = new TransportInfo(transport.Name, transport.IsProxy, raw.Limits, raw.IsAnonymous);
            if (TakeSimultaneousOpen(raw.RemoteAddress) is { } open)
            {
                raw.Admission?.Dispose(); // admitted at accept, but it is our own dial's
                // Our own dial's connection, through the listener: the dial's gaters already ran.
                _background.Run(t => UpgradeSimultaneousOpenAsync(_metrics.CountTraffic(raw, transport.Name), transportInfo, open, t));
                continue;
            }
            // Admitted already when the listener asked at accept (a WebSocket listener, before its HTTP upgrade).
            if (!TryTakeAdmission(raw, out resources)
                && (TryAdmitInbound(raw.LocalAddress, raw.RemoteAddress) ?? TryOpenInboundScope(raw.RemoteAddress, out resources)) is { } refusal)
            {
                _metrics.InboundRefused(refusal.Label);
                LogInboundRefused(raw.RemoteAddress.ToString(), refusal.Reason);
                raw.Abort();
                await raw.DisposeAsync().ConfigureAwait(false);
                continue;
            }
            var scope = resources!;
            _background.Run(t => UpgradeInboundAsync(_metrics.CountTraffic(raw, transport.Name), transportInfo, scope, t));
        }
    }

    /// <summary>Reserves a handshake slot (global and per IP) and asks the gaters; returns why not (with its metric
    /// label), or null.</summary>
    private (string Label, string Reason)? TryAdmitInbound(Multiaddr local, Multiaddr remote)
    {
        var ip = AdmissionGroup(remote.GetIPAddress());
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
                decision = gater.InterceptAccept(local, remote);
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

    /// <summary>Counts an admitted inbound connection in the resource manager (transient and system); on refusal
    /// returns its handshake slot and says why.</summary>
    private (string Label, string Reason)? TryOpenInboundScope(Multiaddr remote, out ConnectionScope? scope)
    {
        try
        {
            scope = _resources.OpenConnection(Direction.Inbound);
            return null;
        }
        catch (ResourceLimitExceededException refusal)
        {
            scope = null;
            ReleaseInbound(remote);
            return ("resource_limit", refusal.Message);
        }
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

    private void ReleaseInbound(Multiaddr remote)
    {
        var ip = AdmissionGroup(remote.GetIPAddress());
        lock (_gate)
        {
            _pendingInbound--;
            if (ip is null || !_pendingInboundByIp.TryGetValue(ip, out int count)) return;
            if (count <= 1) _pendingInboundByIp.Remove(ip);
            else _pendingInboundByIp[ip] = count - 1;
        }
    }

    private async Task UpgradeInboundAsync(IRawConnection raw, TransportInfo transport, ConnectionScope resources,
        CancellationToken token)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(_options.InboundUpgradeTimeout);
            UpgradedConnection upgraded;
            try
            {
                upgraded = await _upgrader.UpgradeInboundAsync(raw, timeout.Token, resources).ConfigureAwait(false);
            }
            catch
            {
                resources.Dispose();
                throw;
            }
            await AddConnectionAsync(upgraded, transport, dialed: false, resources).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _metrics.InboundRefused(HostMetrics.FailureReason(ex));
            LogInboundRefused(raw.RemoteAddress.ToString(), ex.Message);
            await raw.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            ReleaseInbound(raw.RemoteAddress);
        }
    }

    private async Task UpgradeSimultaneousOpenAsync(IRawConnection raw, TransportInfo transport, SimultaneousOpen open,
        CancellationToken token)
    {
        ConnectionScope? resources = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(_options.DialTimeout);
            resources = _resources.OpenConnection(Direction.Outbound);
            UpgradedConnection upgraded;
            try
            {
                upgraded = await _upgrader.UpgradeOutboundAsync(raw, open.Peer, open.Options, timeout.Token, open.Role, resources)
                    .ConfigureAwait(false);
            }
            catch
            {
                resources?.Dispose();
                throw;
            }
            open.Complete(await AddConnectionAsync(upgraded, transport, dialed: true, resources).ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            open.Fail(ex);
            LogInboundRefused(raw.RemoteAddress.ToString(), ex.Message);
            await raw.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening on {Address}")]
    private partial void LogListening(string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accepting on {Address} failed: {Reason}")]
    private partial void LogAcceptFailed(string address, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Inbound connection from {Address} refused: {Reason}")]
    private partial void LogInboundRefused(string address, string reason);
}
