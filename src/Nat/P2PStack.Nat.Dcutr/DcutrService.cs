using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Nat.Dcutr;

/// <summary>How an attempt to make a relayed connection direct ended.</summary>
/// <param name="Reason">direct_dial (the remote was reachable), hole_punch, or why it failed (timeout: the responder
/// stalled past <see cref="DcutrOptions.StreamTimeout"/>; cancelled: the caller's token, not counted in the metrics).</param>
/// <param name="Attempts">Hole punch rounds run (0 when a direct dial sufficed or none could start).</param>
/// <param name="Elapsed">From the start of the upgrade to the direct connection (or to giving up).</param>
public sealed record HolePunchResult(PeerId Peer, bool Success, string Reason, int Attempts, TimeSpan Elapsed, IConnection? Direct);

/// <summary>
/// DCUtR (<c>/libp2p/dcutr</c>): when a peer reaches us over a relay (an inbound limited connection), we first dial its
/// public addresses directly; failing that we run up to <see cref="DcutrOptions.MaxAttempts"/> rounds of CONNECT/SYNC
/// over the relayed connection, each followed by a TCP simultaneous open: the peer dials as soon as SYNC arrives (the
/// client of the new connection), we dial half a round trip after sending it (the server). The direct connection then
/// serves every new stream (the host prefers direct connections) and the relayed one is closed after a grace period.
/// </summary>
public sealed partial class DcutrService : IProtocolHandler, IHostedService, IAsyncDisposable
{
    private readonly IPeerHost _host;
    private readonly DcutrOptions _options;
    private readonly DcutrMetrics? _metrics;
    private readonly NatTraversalMetrics? _traversals;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<PeerId, TaskCompletionSource<HolePunchResult>> _running = new();
    private readonly ConcurrentDictionary<PeerId, HolePunchResult> _last = new();
    private readonly ConcurrentDictionary<PeerId, int> _responding = new();
    private IDisposable? _onConnected;

    public DcutrService(IPeerHost host, IOptions<DcutrOptions> options, DcutrMetrics? metrics = null, ILogger<DcutrService>? logger = null,
        TimeProvider? timeProvider = null, NatTraversalMetrics? traversals = null)
    {
        _host = host;
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
        _traversals = traversals;
        _logger = logger ?? NullLogger<DcutrService>.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _slots = new SemaphoreSlim(_options.MaxConcurrent, _options.MaxConcurrent);
        Protocols = _options.Enabled ? [DcutrProtocol.Id] : [];
    }

    public IReadOnlyList<string> Protocols { get; }

    /// <summary>DCUtR runs over the relayed (limited) connection it upgrades.</summary>
    public bool RunOnLimitedConnections => true;

    /// <summary>The last upgrade with the peer (either role), if any.</summary>
    public HolePunchResult? LastResult(PeerId peer) => _last.GetValueOrDefault(peer);

    /// <summary>Waits for the upgrade of the relayed connection to the peer running now, or null if none runs.</summary>
    public Task<HolePunchResult>? Running(PeerId peer) => _running.TryGetValue(peer, out var running) ? running.Task : null;

    /// <summary>Whether we are answering the peer's hole punch now (the responder records its result once the peer
    /// ends the DCUtR stream, which may be after the direct connection is up).</summary>
    public bool IsResponding(PeerId peer) => _responding.ContainsKey(peer);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled || _onConnected is not null) return Task.CompletedTask;
        _onConnected = _host.Events.Subscribe<PeerConnected>(e =>
        {
            var connection = e.Connection;
            // The spec: the peer that accepted the relayed connection (B) initiates.
            if (connection.IsLimited && !connection.IsDirect && connection.Direction == Direction.Inbound)
            {
                var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var subscription = _host.Events.Subscribe<PeerIdentified>(i =>
                {
                    if (ReferenceEquals(i.Connection, connection)) identified.TrySetResult();
                });
                _host.RunInBackground(async token =>
                {
                    try
                    {
                        // Identify tells the remote's addresses (the unilateral dial needs them); do not wait for ever.
                        await identified.Task.WaitAsync(_options.IdentifyWait, _time, token).ConfigureAwait(false);
                    }
                    catch (TimeoutException)
                    {
                        // go on without them
                    }
                    finally
                    {
                        subscription.Dispose();
                    }
                    await UpgradeAsync(connection, token).ConfigureAwait(false);
                });
            }
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _onConnected?.Dispose();
        _onConnected = null;
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _onConnected?.Dispose();
        _slots.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Initiator side: turns a relayed connection into a direct one if it can (also callable by hand).</summary>
    public async Task<HolePunchResult> UpgradeAsync(IConnection relayed, CancellationToken cancellationToken)
    {
        var peer = relayed.RemotePeer;
        var completion = new TaskCompletionSource<HolePunchResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_running.TryAdd(peer, completion)) return await _running[peer].Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        long started = _time.GetTimestamp();
        HolePunchResult result;
        try
        {
            if (!await _slots.WaitAsync(0, cancellationToken).ConfigureAwait(false))
            {
                result = Finish(relayed, false, "busy", 0, started, null);
            }
            else
            {
                try
                {
                    result = await UpgradeCoreAsync(relayed, started, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    _slots.Release();
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Cancelled: the node stops (or the caller gave up); that is no outcome of the hole punch to count. A
            // responder that stalls past StreamTimeout ends in UpgradeCoreAsync ("timeout"), not here.
            bool cancelled = cancellationToken.IsCancellationRequested;
            result = Finish(relayed, false, cancelled ? "cancelled" : "protocol_error", 0, started, null,
                countTraversal: !cancelled, countResult: !cancelled);
            LogFailed(peer, ex.Message);
        }
        finally
        {
            _running.TryRemove(peer, out _);
        }
        completion.TrySetResult(result);
        return result;
    }

    private async Task<HolePunchResult> UpgradeCoreAsync(IConnection relayed, long started, CancellationToken cancellationToken)
    {
        var peer = relayed.RemotePeer;
        // A relayed connection from a peer we are already directly connected to needs no traversal: none is counted.
        if (Direct(peer) is { } existing) return Finish(relayed, true, "direct_dial", 0, started, existing, countTraversal: false);

        // Unilateral upgrade: the remote may be reachable directly (public addresses it told identify). From an
        // ephemeral port: a remote behind a NAT (whose observed address it still advertises) drops our SYNs, and the
        // half-open entry that attempt leaves in our NAT for the listen port's four-tuple would turn the remote's SYN
        // of the hole punch below into one our NAT mistranslates (out of window for the old sequence numbers).
        var public_ = HolePunchExchange.Punchable(_host.PeerStore.GetAddresses(peer), _options.AllowPrivateAddresses);
        if (public_.Count > 0 && await DialAnyAsync(peer, public_, null, _options.UnilateralDialTimeout, cancellationToken,
                fromEphemeralPort: true).ConfigureAwait(false) is { } unilateral)
        {
            CloseAfterGrace(relayed);
            return Finish(relayed, true, "direct_dial", 0, started, unilateral);
        }

        IStream stream;
        try
        {
            stream = await relayed.OpenStreamAsync([DcutrProtocol.Id], cancellationToken).ConfigureAwait(false);
        }
        catch (ProtocolNotSupportedException)
        {
            return Finish(relayed, false, "not_supported", 0, started, null);
        }
        await using (stream.ConfigureAwait(false))
        {
            string reason = "dial_failed";
            bool offered = false;
            await WaitForOwnAddressAsync(cancellationToken).ConfigureAwait(false);
            for (int attempt = 1; attempt <= _options.MaxAttempts; attempt++)
            {
                _metrics?.Attempt("initiator");
                HolePunchRound round;
                var ours = OurAddresses();
                offered |= ours.Count > 0;
                using (var exchange = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    exchange.CancelAfter(_options.StreamTimeout);
                    try
                    {
                        round = await HolePunchExchange.InitiateAsync(stream, ours, _time, exchange.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException ex) when (exchange.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                    {
                        // The responder stalled past StreamTimeout (no answer to CONNECT, or a stream that stopped
                        // moving): the hole punch failed and the relayed connection remains. The caller's
                        // cancellation is no outcome and goes up to UpgradeAsync.
                        stream.Reset();
                        LogFailed(peer, $"no answer within {_options.StreamTimeout} ({ex.Message})");
                        return Finish(relayed, false, "timeout", attempt, started, null);
                    }
                }
                var theirs = HolePunchExchange.Punchable(round.RemoteAddresses, _options.AllowPrivateAddresses);
                if (theirs.Count == 0)
                {
                    // The peer has not learnt an address of its own yet (identify with its relay may still be on the
                    // way): ask again a little later rather than give up.
                    reason = "no_addresses";
                    if (attempt < _options.MaxAttempts) await Task.Delay(_options.NoAddressRetryDelay, _time, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                reason = "dial_failed";
                LogRound(peer, attempt, round.RoundTrip, theirs.Count);
                // We are the server of the simultaneous open: the peer dials on receiving SYNC, we half an RTT later.
                if (await DialAnyAsync(peer, theirs, Direction.Inbound, _options.DialTimeout, cancellationToken).ConfigureAwait(false) is { } direct)
                {
                    await stream.Output.CompleteAsync().ConfigureAwait(false);
                    CloseAfterGrace(relayed);
                    return Finish(relayed, true, "hole_punch", attempt, started, direct);
                }
            }
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            // We never had an address to offer: the peer had nothing to dial, so its NAT never opened for our dials
            // (a node that did not learn its observed address; the matrix once showed this as dial_failed).
            if (reason == "dial_failed" && !offered) reason = "no_own_addresses";
            return Finish(relayed, false, reason, _options.MaxAttempts, started, null);
        }
    }

    /// <summary>Responder side: answers CONNECT and dials as soon as SYNC arrives, for every round the peer runs.</summary>
    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            var peer = stream.Connection.RemotePeer;
            if (!stream.Connection.IsLimited)
            {
                stream.Reset(); // nothing to upgrade
                return;
            }
            _responding.AddOrUpdate(peer, 1, (_, n) => n + 1);
            try
            {
                await RespondAsync(stream, peer, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // Bounded by the peers with a DCUtR stream open: an entry goes with its last stream.
                if (_responding.AddOrUpdate(peer, 0, (_, n) => n - 1) <= 0) _responding.TryRemove(new KeyValuePair<PeerId, int>(peer, 0));
            }
        }
    }

    private async Task RespondAsync(IStream stream, PeerId peer, CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        int rounds = 0;
        bool malformed = false;
        var dials = new List<Task<IConnection?>>();
        try
        {
            while (rounds < _options.MaxAttempts)
            {
                HolePunchRound? round;
                IDisposable? expected = null;
                try
                {
                    using (var exchange = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                    {
                        exchange.CancelAfter(_options.StreamTimeout);
                        // We are the client from CONNECT on: the server's half of the open may come through our listener
                        // before SYNC has reached us (a slow or loaded side), and must not be taken as an inbound
                        // connection in which both sides act as the server.
                        round = await HolePunchExchange.RespondAsync(stream, OurAddresses(), exchange.Token, theirs =>
                        {
                            var punchable = HolePunchExchange.Punchable(theirs, _options.AllowPrivateAddresses);
                            if (punchable.Count > 0) expected = _host.ExpectSimultaneousOpen(peer, punchable, Direction.Outbound);
                        }).ConfigureAwait(false);
                    }
                }
                catch
                {
                    expected?.Dispose();
                    throw;
                }
                if (round is null) break;
                rounds++;
                _metrics?.Attempt("responder");
                var theirs = HolePunchExchange.Punchable(round.RemoteAddresses, _options.AllowPrivateAddresses);
                // We are the client: dial at once, in the background, so that the next CONNECT is answered without
                // delay (a late answer would spoil the next round's RTT measurement).
                if (theirs.Count > 0) dials.Add(DialThenForgetAsync(peer, theirs, expected, cancellationToken));
                else expected?.Dispose();
            }
        }
        catch (DcutrFormatException ex)
        {
            // Bad input from the initiator: counted here, the only side that sees it (outcomes are the initiator's).
            malformed = true;
            _metrics?.Result(false, "protocol_error");
            LogFailed(peer, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogFailed(peer, ex.Message);
        }
        var results = await Task.WhenAll(dials).ConfigureAwait(false);
        var direct = results.FirstOrDefault(c => c is not null) ?? Direct(peer);
        _last[peer] = new HolePunchResult(peer, direct is not null, direct is not null ? "hole_punch" : malformed ? "protocol_error" : "dial_failed",
            rounds, _time.GetElapsedTime(started), direct);
    }

    /// <summary>The client's dial of one round; the round's expectation of the server's half ends with it.</summary>
    private async Task<IConnection?> DialThenForgetAsync(PeerId peer, IReadOnlyList<Multiaddr> theirs, IDisposable? expected,
        CancellationToken cancellationToken)
    {
        using (expected)
        {
            return await DialAnyAsync(peer, theirs, Direction.Outbound, _options.DialTimeout, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Dials the addresses at once (as one side of a simultaneous open when a role is given); the first
    /// direct connection wins.</summary>
    private async Task<IConnection?> DialAnyAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Direction? role, TimeSpan timeout,
        CancellationToken cancellationToken, bool fromEphemeralPort = false)
    {
        var options = new DialOptions { ForceDirect = true, SimultaneousOpenRole = role, Timeout = timeout, FromEphemeralPort = fromEphemeralPort };
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var dials = addresses.Select(async address =>
        {
            try
            {
                var target = address.GetPeerId() is null ? address.Encapsulate($"/p2p/{peer}") : address;
                return await _host.DialAsync(target, options, cancel.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogDialFailed(peer, address, ex.Message);
                return null;
            }
        }).ToList();
        while (dials.Count > 0)
        {
            var done = await Task.WhenAny(dials).ConfigureAwait(false);
            dials.Remove(done);
            if (await done.ConfigureAwait(false) is { IsDirect: true } connection)
            {
                await cancel.CancelAsync().ConfigureAwait(false);
                return connection;
            }
        }
        return Direct(peer); // the peer's half of the open may have arrived through our listener
    }

    /// <summary>Waits (at most <see cref="DcutrOptions.OwnAddressWait"/>) until we have an address the peer can dial;
    /// without one the rounds still run (the peer's CONNECT may tell us its address, and its SYN opens our NAT).</summary>
    private async Task WaitForOwnAddressAsync(CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        while (OurAddresses().Count == 0 && _time.GetElapsedTime(start) < _options.OwnAddressWait)
            await Task.Delay(_options.AddressPollInterval, _time, cancellationToken).ConfigureAwait(false);
    }

    private IConnection? Direct(PeerId peer) => _host.GetConnections(peer).FirstOrDefault(c => c.IsDirect && !c.Completion.IsCompleted);

    /// <summary>What we tell the peer to dial: our confirmed observed and advertised direct addresses that can be hole
    /// punched, then a few observed candidates not confirmed yet (as rust-libp2p's DCUtR does): behind a NAT our only
    /// direct connection may be the one to our relay, one observer, never enough to confirm an address.</summary>
    private IReadOnlyList<Multiaddr> OurAddresses()
    {
        var addresses = _host.AddressManager;
        return HolePunchExchange.Punchable(addresses.ObservedAddresses.Concat(addresses.AdvertisedAddresses)
            .Concat(addresses.ObservedAddressCandidates.Take(_options.MaxObservedCandidates)), _options.AllowPrivateAddresses);
    }

    private void CloseAfterGrace(IConnection relayed) => _host.RunInBackground(async token =>
    {
        await Task.Delay(_options.RelayedCloseGrace, _time, token).ConfigureAwait(false);
        await relayed.CloseAsync(token).ConfigureAwait(false);
    });

    /// <summary>Records the initiator's outcome: DCUtR's result (by reason, unless it was cancelled), and the traversal's path (direct; relayed while the
    /// relayed connection is still open; failed when it closed under us, as a relay ending the circuit does).</summary>
    private HolePunchResult Finish(IConnection relayed, bool success, string reason, int attempts, long started, IConnection? direct,
        bool countTraversal = true, bool countResult = true)
    {
        var peer = relayed.RemotePeer;
        var elapsed = _time.GetElapsedTime(started);
        var result = new HolePunchResult(peer, success, reason, attempts, elapsed, direct);
        if (countResult) _metrics?.Result(success, reason);
        if (countTraversal) _traversals?.Record("dcutr", success ? NatTraversalPath.Direct
            : relayed.Completion.IsCompleted ? NatTraversalPath.Failed : NatTraversalPath.Relayed);
        if (success) _metrics?.Duration(elapsed);
        _last[peer] = result; // last: whoever sees the result also sees it counted
        LogResult(peer, success, reason, attempts, elapsed);
        return result;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "DCUtR with {Peer}: round {Attempt}, RTT {Rtt}, {Count} addresses to dial")]
    private partial void LogRound(PeerId peer, int attempt, TimeSpan rtt, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DCUtR with {Peer}: dialing {Address} failed: {Reason}")]
    private partial void LogDialFailed(PeerId peer, Multiaddr address, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DCUtR with {Peer} failed: {Reason}")]
    private partial void LogFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "DCUtR with {Peer}: success {Success} ({Reason}) after {Attempts} rounds in {Elapsed}")]
    private partial void LogResult(PeerId peer, bool success, string reason, int attempts, TimeSpan elapsed);
}
