using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>Dialing: reuse of the best fitting connection, coalescing, address order, the dial context down to the
/// transport and the upgrader, simultaneous opens.</summary>
public sealed partial class PeerHost
{
    /// <summary>Streams of protocols that all run on limited connections may use one.</summary>
    private static readonly DialOptions LimitedAllowed = new() { AllowLimited = true };

    public async ValueTask<IStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(protocols);
        bool limitedAllowed = protocols.Count > 0 && protocols.All(RunsOnLimitedConnections);
        var connection = await DialAsync(peer, limitedAllowed ? LimitedAllowed : DialOptions.Default, cancellationToken)
            .ConfigureAwait(false);
        return await connection.OpenStreamAsync(protocols, cancellationToken).ConfigureAwait(false);
    }

    private bool RunsOnLimitedConnections(string protocol) =>
        (_registry.TryGet(protocol, out var handler) && handler.RunOnLimitedConnections)
        || _options.LimitedConnectionProtocols.Contains(protocol) || _options.AllProtocolsOnLimitedConnections;

    public ValueTask<IConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken) =>
        DialAsync(address, DialOptions.Default, cancellationToken);

    public ValueTask<IConnection> DialAsync(PeerId peer, CancellationToken cancellationToken) =>
        DialPeerAsync(peer, null, DialOptions.Default, cancellationToken);

    public ValueTask<IConnection> DialAsync(Multiaddr address, DialOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);
        var (peer, transportAddress) = SplitPeer(address);
        if (peer is null) return DialUnknownPeerAsync(transportAddress, options, cancellationToken);
        return DialPeerAsync(peer, [transportAddress], options, cancellationToken);
    }

    public ValueTask<IConnection> DialAsync(PeerId peer, DialOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        return DialPeerAsync(peer, null, options, cancellationToken);
    }

    /// <summary>The peer an address leads to is its trailing /p2p component; a /p2p inside (a relay's, before
    /// /p2p-circuit) names a hop, not the target.</summary>
    internal static (PeerId? Peer, Multiaddr TransportAddress) SplitPeer(Multiaddr address)
    {
        var components = address.Components;
        if (components.Count == 0 || components[^1].Protocol != MultiaddrProtocols.P2P) return (null, address);
        return (address.GetPeerId(), address.DecapsulateCode(MultiaddrProtocols.P2P.Code));
    }

    private async ValueTask<IConnection> DialUnknownPeerAsync(Multiaddr address, DialOptions options,
        CancellationToken cancellationToken)
    {
        using var budget = new DialBudget(options, cancellationToken, _background.Stopping);
        return await DialAddressAsync(address, null, options, budget, null).ConfigureAwait(false);
    }

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
        while (true)
        {
            if (await JoinOrStartDialAsync(peer, addresses, cancellationToken).ConfigureAwait(false) is { } connection)
                return connection;
            // This caller joined a shared attempt whose other callers had all given up (cancelled before it saw this
            // caller): their cancellation is not this caller's, so it dials again.
            if (FindReusable(peer, options) is { } connected) return connected;
        }
    }

    // Joins the peer's shared default dial, or starts it; null when the joined attempt was abandoned by its other callers.
    private async ValueTask<IConnection?> JoinOrStartDialAsync(PeerId peer, IReadOnlyList<Multiaddr>? addresses,
        CancellationToken cancellationToken)
    {
        var options = DialOptions.Default;
        PendingDial pending;
        lock (_gate)
        {
            // An abandoned attempt (cancelled, still unwinding) is replaced rather than joined.
            if (!_pendingDials.TryGetValue(peer, out pending!) || pending.Abandoned)
            {
                pending = new PendingDial(_background.Stopping) { HasAddresses = addresses is { Count: > 0 } };
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
        try
        {
            return await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (pending.Abandoned && !cancellationToken.IsCancellationRequested
            && !_background.Stopping.IsCancellationRequested)
        {
            return null;
        }
        catch (DialFailedException) when (addresses is { Count: > 0 } && !pending.HasAddresses)
        {
            // The shared attempt had only the peer store's addresses (perhaps none yet); this caller names its own.
            if (FindReusable(peer, options) is { } connected) return connected;
            return await DialAnyAsync(peer, addresses, options, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<IConnection> DialAnyAsync(PeerId peer, IReadOnlyList<Multiaddr>? addresses, DialOptions options,
        CancellationToken cancellationToken)
    {
        addresses ??= PeerStore.GetAddresses(peer);
        // Direct transports first; a forced direct dial never uses a proxy transport.
        var ordered = addresses.Where(a => !options.ForceDirect || _transports.ForDial(a) is not { IsProxy: true })
            .OrderBy(a => _transports.ForDial(a) is { IsProxy: true } ? 1 : 0)
            .ToList();
        if (ordered.Count == 0)
        {
            throw new DialFailedException(addresses.Count == 0
                ? $"no addresses known for peer {peer}"
                : $"no direct address known for peer {peer}", []);
        }
        // Registered before anything is sent (this runs synchronously up to the first transport dial), so that the
        // peer's half of a simultaneous open, arriving through a listener, is recognised as this dial's connection.
        var opens = options.SimultaneousOpenRole is { } role ? RegisterSimultaneousOpens(ordered, peer, role, options) : null;
        using var budget = new DialBudget(options, cancellationToken, _background.Stopping);
        try
        {
            var errors = new List<DialAttemptError>();
            foreach (var address in ordered)
            {
                budget.Token.ThrowIfCancellationRequested();
                // An inbound connection may have arrived meanwhile.
                if (FindReusable(peer, options) is { } existing) return existing;
                try
                {
                    var connection = await DialAddressAsync(address, peer, options, budget, opens?.GetValueOrDefault(address))
                        .ConfigureAwait(false);
                    if (connection.IsLimited && !options.AllowLimited)
                    {
                        errors.Add(new DialAttemptError(address, new LimitedConnectionException(
                            $"the connection to {peer} through {address} is limited and the dial did not allow limited connections",
                            connection)));
                        continue;
                    }
                    return connection;
                }
                catch (Exception ex) when (!budget.Token.IsCancellationRequested && ex is not PeerIdMismatchException)
                {
                    errors.Add(new DialAttemptError(address, ex));
                }
            }
            // One address: its own error says most (timeout, refusal, gater, limited) and keeps its type.
            if (errors.Count == 1) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[0].Error);
            throw new DialFailedException($"could not dial peer {peer}", errors);
        }
        catch (Exception ex) when (budget.Expired && ex is OperationCanceledException or TimeoutException)
        {
            // Between attempts, or an attempt's own report of the budget: the whole dial is what ran out of time.
            throw budget.Exceeded($"dialing peer {peer}", ex);
        }
        finally
        {
            if (opens is not null) UnregisterSimultaneousOpens(opens);
        }
    }

    // One attempt to one address (gater, transport, upgrade), counted by transport and failure reason.
    private async Task<IConnection> DialAddressAsync(Multiaddr address, PeerId? expectedPeer, DialOptions options,
        DialBudget budget, SimultaneousOpen? open)
    {
        var transport = _transports.ForDial(address);
        string transportName = transport?.Name ?? "none";
        _metrics.DialAttempted(transportName);
        try
        {
            Gate("dial", g => g.InterceptDial(expectedPeer, address));
            if (transport is null) throw new NotSupportedException($"no registered transport can dial {address}");
            if (options.ForceDirect && transport.IsProxy)
                throw new NotSupportedException($"{address} is reached through a proxy transport and the dial must be direct");
            return await DialTransportAsync(transport, address, expectedPeer, options, budget.Token, open).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (budget.Expired)
        {
            // The dial's budget ran out: a timeout (counted as one), not a cancellation by anyone.
            var timeout = budget.Exceeded($"dialing {address}", ex);
            _metrics.DialFailed(transportName, timeout);
            throw timeout;
        }
        catch (OperationCanceledException ex) when (!budget.Token.IsCancellationRequested)
        {
            // Cancelled by neither the caller, the host's stop nor a budget (a transport's or upgrader's own token, a
            // connection torn down underneath): the attempt failed, so "cancelled" keeps meaning the caller or the stop.
            var aborted = new IOException($"dialing {address} was aborted: {ex.Message}", ex);
            _metrics.DialFailed(transportName, aborted);
            throw aborted;
        }
        catch (Exception ex)
        {
            _metrics.DialFailed(transportName, ex);
            throw;
        }
    }

    private async Task<IConnection> DialTransportAsync(ITransport transport, Multiaddr address, PeerId? expectedPeer,
        DialOptions options, CancellationToken token, SimultaneousOpen? open)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.DialTimeout);
        try
        {
            IRawConnection raw;
            try
            {
                raw = await transport.DialAsync(address, expectedPeer, options, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception) when (open is not null && !timeout.IsCancellationRequested)
            {
                // A simultaneous open whose own connect failed because the four-tuple is taken: the same connection
                // arrived (or is arriving) through our listener and is upgraded in this dial's role.
                return await open.Connection.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            var offered = _upgrader.OfferedSecurity(options);
            string? optimistic = expectedPeer is null || open is not null ? null : _securityMemory.Recall(expectedPeer, offered);
            (UpgradedConnection Upgraded, ConnectionScope Resources, TransportInfo Transport) result;
            try
            {
                result = await UpgradeDialedAsync(raw, transport, expectedPeer, options, optimistic, timeout.Token).ConfigureAwait(false);
            }
            catch (OptimisticSecurityException) when (!timeout.IsCancellationRequested)
            {
                // The peer no longer takes the remembered suite (or dropped the connection before its answer
                // arrived): forget it and dial once more, negotiating in full.
                _securityMemory.Forget(expectedPeer!);
                _metrics.DialAttempted(transport.Name);
                raw = await transport.DialAsync(address, expectedPeer, options, timeout.Token).ConfigureAwait(false);
                result = await UpgradeDialedAsync(raw, transport, expectedPeer, options, null, timeout.Token).ConfigureAwait(false);
            }
            if (expectedPeer is not null && result.Upgraded.Role == Direction.Outbound)
            {
                // Only the dialer's first choice is replayed: remembering a fallback would let a single refused
                // proposal (an on-path attacker answering na to the post-quantum suites) downgrade every later dial
                // to this peer for the memory's lifetime without being there again.
                string chosen = result.Upgraded.Secure.SecurityProtocol;
                if (offered.Count > 0 && string.Equals(offered[0], chosen, StringComparison.Ordinal))
                    _securityMemory.Remember(expectedPeer, offered, chosen);
                else
                    _securityMemory.Forget(expectedPeer);
            }
            return await AddConnectionAsync(result.Upgraded, result.Transport, dialed: true, result.Resources).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !token.IsCancellationRequested)
        {
            // Only this attempt's own budget: a transport's other timeouts (a relay's request, say) report themselves.
            throw new TimeoutException(
                $"dialing {address} took longer than HostOptions.DialTimeout ({_options.DialTimeout.TotalSeconds:0.###} s)", ex);
        }
    }

    // Upgrades a dialed raw connection; on failure releases its resources and drops it.
    private async Task<(UpgradedConnection Upgraded, ConnectionScope Resources, TransportInfo Transport)> UpgradeDialedAsync(
        IRawConnection raw, ITransport transport, PeerId? expectedPeer, DialOptions options, string? optimistic,
        CancellationToken token)
    {
        var transportInfo = new TransportInfo(transport.Name, transport.IsProxy, raw.Limits, raw.IsAnonymous);
        var counted = _metrics.CountTraffic(raw, transport.Name);
        ConnectionScope? resources = null;
        try
        {
            resources = _resources.OpenConnection(Direction.Outbound);
            var upgraded = await _upgrader.UpgradeOutboundAsync(counted, expectedPeer, options, token, resources: resources,
                optimisticSecurity: optimistic).ConfigureAwait(false);
            return (upgraded, resources, transportInfo);
        }
        catch
        {
            resources?.Dispose();
            counted.Abort();
            await counted.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private IConnection? FindReusable(PeerId peer, DialOptions options)
    {
        var identity = options.Identity?.PeerId ?? PeerId;
        if (options.Filters is null && _upgrader.DefaultFilters is { } defaults)
        {
            // A dial that names no filters takes the host's default ones: a connection running them serves it, and
            // one without any filter too when they are not required.
            var filtered = options with { Filters = defaults.Filters };
            return _connections.FindBest(peer, c => c.LocalPeer.Equals(identity) && filtered.IsSatisfiedBy(c))
                ?? (defaults.Required ? null : _connections.FindBest(peer, c => c.LocalPeer.Equals(identity) && options.IsSatisfiedBy(c)));
        }
        return _connections.FindBest(peer, c => c.LocalPeer.Equals(identity) && options.IsSatisfiedBy(c));
    }

    public IDisposable ExpectSimultaneousOpen(PeerId peer, IReadOnlyList<Multiaddr> addresses, Direction role)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(addresses);
        var options = new DialOptions { ForceDirect = true, SimultaneousOpenRole = role };
        var transportAddresses = addresses.Select(a => SplitPeer(a).TransportAddress).Distinct().ToList();
        var opens = RegisterSimultaneousOpens(transportAddresses, peer, role, options);
        foreach (var open in opens.Values)
        {
            // Nobody awaits an expectation's outcome (the connection joins the host as usual): observe a failure.
            _ = open.Connection.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        return new Expectation(this, opens);
    }

    private sealed class Expectation(PeerHost host, Dictionary<Multiaddr, SimultaneousOpen> opens) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) host.UnregisterSimultaneousOpens(opens);
        }
    }

    private Dictionary<Multiaddr, SimultaneousOpen> RegisterSimultaneousOpens(List<Multiaddr> addresses, PeerId peer,
        Direction role, DialOptions options)
    {
        var opens = new Dictionary<Multiaddr, SimultaneousOpen>();
        lock (_gate)
        {
            foreach (var address in addresses)
            {
                var open = new SimultaneousOpen(peer, role, options);
                // A newer dial to the same address takes over; the older one then relies on its own connect.
                _simultaneousOpens[address] = open;
                opens[address] = open;
            }
        }
        return opens;
    }

    private void UnregisterSimultaneousOpens(Dictionary<Multiaddr, SimultaneousOpen> opens)
    {
        lock (_gate)
        {
            foreach (var (address, open) in opens)
            {
                if (_simultaneousOpens.TryGetValue(address, out var current) && ReferenceEquals(current, open))
                    _simultaneousOpens.Remove(address);
            }
        }
    }

    private SimultaneousOpen? TakeSimultaneousOpen(Multiaddr remoteAddress)
    {
        lock (_gate)
        {
            if (!_simultaneousOpens.Remove(remoteAddress, out var open)) return null;
            return open;
        }
    }

    private void CompleteSimultaneousOpen(HostConnection connection)
    {
        SimultaneousOpen? open;
        lock (_gate)
        {
            if (!_simultaneousOpens.TryGetValue(connection.RemoteAddress, out open) || open.Role != connection.Direction
                || !open.Peer.Equals(connection.RemotePeer) || !(open.Options.Identity?.PeerId ?? PeerId).Equals(connection.LocalPeer))
                return;
            _simultaneousOpens.Remove(connection.RemoteAddress);
        }
        open.Complete(connection);
    }

    /// <summary>A simultaneous-open dial waiting, in case its connection arrives through a listener.</summary>
    private sealed class SimultaneousOpen(PeerId peer, Direction role, DialOptions options)
    {
        private readonly TaskCompletionSource<IConnection> _connection = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public PeerId Peer { get; } = peer;

        public Direction Role { get; } = role;

        public DialOptions Options { get; } = options;

        public Task<IConnection> Connection => _connection.Task;

        public void Complete(IConnection connection) => _connection.TrySetResult(connection);

        public void Fail(Exception error) => _connection.TrySetException(error);
    }
}
