using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Host.Metrics;
using P2PStack.Identity;
using P2PStack.Multistream;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// An established connection: owns the muxer session, accepts inbound streams, negotiates their protocol and hands
/// them to the registered handler (as work the host owns); opens outbound streams for the host's users. On a limited
/// connection only protocols that opt in run, in both directions.
/// </summary>
internal sealed partial class HostConnection : IConnection
{
    private static long s_nextId;

    private readonly UpgradedConnection _upgraded;
    private readonly ProtocolRegistry _registry;
    private readonly HostOptions _options;
    private readonly ILogger _logger;
    private readonly BackgroundWork _background;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<HostConnection> _onClosed;
    private int _streams;
    private int _closing;
    private int _draining;
    private Exception? _endReason;

    /// <param name="onClosed">Runs once the connection is closed, before <see cref="Completion"/> completes (the host
    /// forgets the connection there, so that nobody who awaited the close still finds it listed).</param>
    public HostConnection(UpgradedConnection upgraded, TransportInfo transport, ILocalIdentity hostIdentity,
        ProtocolRegistry registry, HostOptions options, ILogger logger, HostMetrics metrics, BackgroundWork background,
        Action<HostConnection> onClosed, ConnectionScope resources)
    {
        Resources = resources;
        Metrics = metrics;
        _onClosed = onClosed;
        _upgraded = upgraded;
        _registry = registry;
        _options = options;
        _logger = logger;
        _background = background;
        Transport = transport.Name;
        IsDirect = !transport.IsProxy;
        Limits = transport.Limits;
        var identity = upgraded.Identity ?? hostIdentity;
        LocalPeer = identity.PeerId;
        LocalPublicKey = identity.PrivateKey.PublicKey;
        IsPrivate = !identity.PeerId.Equals(hostIdentity.PeerId);
        IsAnonymous = IsPrivate || transport.IsAnonymous;
        Id = Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        OpenedAt = DateTimeOffset.UtcNow;
    }

    public string Id { get; }

    public PeerId RemotePeer => _upgraded.Secure.RemotePeer;

    public PublicKey RemotePublicKey => _upgraded.Secure.RemotePublicKey;

    public PeerId LocalPeer { get; }

    public PublicKey LocalPublicKey { get; }

    public Multiaddr LocalAddress => _upgraded.Raw.LocalAddress;

    public Multiaddr RemoteAddress => _upgraded.Raw.RemoteAddress;

    public Direction Direction => _upgraded.Role;

    public string Transport { get; }

    public bool IsDirect { get; }

    public ConnectionLimits? Limits { get; }

    public bool IsLimited => Limits is not null;

    public IReadOnlyList<string> Filters => _upgraded.Filters;

    /// <summary>Authenticated under a per-connection identity: private to its dialer.</summary>
    public bool IsPrivate { get; }

    /// <summary>Private, or the transport hides the remote: inbound streams run only protocols that opt in.</summary>
    public bool IsAnonymous { get; }

    public bool ServesInbound(string protocol) =>
        _registry.TryGet(protocol, out var handler)
        && (!IsLimited || handler.RunOnLimitedConnections || _options.AllProtocolsOnLimitedConnections)
        && (!IsAnonymous || handler.RunOnAnonymousConnections || _options.AnonymousConnectionProtocols.Contains(protocol)
            || (!IsPrivate && handler.RunForAnonymousRemotes));

    public string SecurityProtocol => _upgraded.Secure.SecurityProtocol;

    public string Muxer => _upgraded.Muxer;

    public DateTimeOffset OpenedAt { get; }

    public TimeSpan SecurityHandshakeDuration => _upgraded.SecurityHandshakeDuration;

    public int StreamCount => Volatile.Read(ref _streams);

    public Task Completion => _closed.Task;

    internal HostMetrics Metrics { get; }

    /// <summary>The connection's resource scope: its streams and muxer memory; disposed as the connection closes.</summary>
    internal ConnectionScope Resources { get; }

    /// <summary>The secure connection (under any filters), for modules that need its details (e.g. the post-quantum
    /// level).</summary>
    public ISecureConnection Secure => _upgraded.Secure is FilteredSecureConnection filtered ? filtered.Inner : _upgraded.Secure;

    /// <summary>Runs the accept loop until the session ends; then completes <see cref="Completion"/>.</summary>
    public async Task RunAsync()
    {
        var token = _lifetime.Token;
        var session = _upgraded.Session;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var stream = await session.AcceptStreamAsync(token).ConfigureAwait(false);
                StreamScope scope;
                try
                {
                    // The resource manager holds every stream limit (per connection, peer, protocol, transient, system).
                    scope = Resources.OpenStream(Direction.Inbound);
                }
                catch (ResourceLimitExceededException refusal)
                {
                    if (refusal.Scope == Resources.Name) LogStreamRefused(RemotePeer, refusal.Limit);
                    else LogStreamRefusedByResources(RemotePeer, refusal.Message);
                    stream.Reset();
                    continue;
                }
                Interlocked.Increment(ref _streams);
                _background.Run(_ => HandleInboundAsync(stream, scope, token));
            }
        }
        catch (Exception ex) when (ex is MuxerClosedException or OperationCanceledException or IOException)
        {
            // The session ended: the remote went away, or we closed it. Kept for streams being opened meanwhile.
            if (ex is not OperationCanceledException) Volatile.Write(ref _endReason, ex);
        }
        catch (Exception ex)
        {
            LogAcceptLoopFailed(RemotePeer, ex);
        }
        finally
        {
            await CloseCoreAsync().ConfigureAwait(false);
        }
    }

    /// <summary>True once the connection is closing or closed: it must not be handed out for new streams.</summary>
    public bool IsClosing => Volatile.Read(ref _closing) != 0 || Volatile.Read(ref _draining) != 0;

    public ValueTask<IStream> OpenStreamAsync(IReadOnlyList<string> protocols, CancellationToken cancellationToken) =>
        OpenStreamAsync(protocols, flushProposal: true, cancellationToken);

    public ValueTask<IStream> OpenStreamForFirstWriteAsync(string protocol, CancellationToken cancellationToken) =>
        OpenStreamAsync([protocol], flushProposal: false, cancellationToken);

    private async ValueTask<IStream> OpenStreamAsync(IReadOnlyList<string> protocols, bool flushProposal, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(protocols.Count);
        if (IsClosing) throw new MuxerClosedException($"connection {Id} to {RemotePeer} is closing");
        if (IsLimited)
        {
            // Offer only what may run here; the caller learns plainly when nothing may.
            var allowed = protocols.Where(RunsOnLimitedConnections).ToArray();
            if (allowed.Length == 0)
                throw new LimitedConnectionException(
                    $"connection {Id} to {RemotePeer} is limited and none of {string.Join(", ", protocols)} runs on limited connections", this);
            protocols = allowed;
        }
        // The resource manager refuses a stream over any limit (this connection's streams included), typed.
        // The linked source first: nothing is taken yet if it cannot be made.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        var scope = Resources.OpenStream(Direction.Outbound);
        Interlocked.Increment(ref _streams);
        IMuxedStream? stream = null;
        try
        {
            timeout.CancelAfter(_options.StreamNegotiationTimeout);
            stream = flushProposal || protocols.Count != 1
                ? await _upgraded.Session.OpenStreamAsync(timeout.Token).ConfigureAwait(false)
                : await _upgraded.Session.OpenStreamForFirstWriteAsync(timeout.Token).ConfigureAwait(false); // SYN with the first data
            if (protocols.Count == 1)
            {
                // Lazy negotiation: the protocol's first bytes travel with the proposal; a refusal surfaces on
                // the first read as ProtocolNotSupportedException.
                scope.SetProtocol(protocols[0]);
                var lazy = flushProposal
                    ? await MultistreamSelect.SelectLazyAsync(stream, protocols[0], timeout.Token).ConfigureAwait(false)
                    : MultistreamSelect.ProposeLazily(stream, protocols[0]); // leaves with the caller's first flush
                return new HostStream(stream, lazy, lazy.Protocol, this, scope);
            }
            string protocol = await MultistreamSelect.SelectAsync(stream, protocols, timeout.Token).ConfigureAwait(false);
            scope.SetProtocol(protocol);
            return new HostStream(stream, stream, protocol, this, scope);
        }
        catch (Exception ex)
        {
            stream?.Reset();
            scope.Dispose();
            ReleaseStream();
            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
                throw NotCancelled(ex, timedOut: timeout.IsCancellationRequested);
            throw;
        }
    }

    // The opening's token joins the caller's, the connection's lifetime and the negotiation timeout: a cancellation the
    // caller did not ask for is the connection closing (the remote's refusal or close, or ours) or the timeout, typed.
    private Exception NotCancelled(Exception cancelled, bool timedOut)
    {
        if (_lifetime.IsCancellationRequested || IsClosing)
        {
            // The accept loop's error wraps the session's end (closed by the remote, disposed): that says the most.
            var reason = Volatile.Read(ref _endReason);
            return new MuxerClosedException(reason is null
                ? $"connection {Id} to {RemotePeer} closed while a stream was being opened"
                : $"connection {Id} to {RemotePeer} closed while a stream was being opened: {(reason.InnerException ?? reason).Message}",
                reason ?? cancelled);
        }
        if (timedOut)
        {
            return new TimeoutException(
                $"opening a stream to {RemotePeer} took longer than HostOptions.StreamNegotiationTimeout ({_options.StreamNegotiationTimeout.TotalSeconds:0.###} s)",
                cancelled);
        }
        // Nobody's token: a stream or session torn down underneath, reported the way the muxer reports a failed stream.
        return new IOException($"opening a stream to {RemotePeer} on connection {Id} was aborted: {cancelled.Message}", cancelled);
    }

    /// <summary>
    /// Sends go-away and lets open streams finish for at most <see cref="HostOptions.ConnectionCloseTimeout"/>, then
    /// tears the connection down: a long-lived stream (gossip, a DHT query) cannot hold a closing connection open.
    /// </summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        Interlocked.Exchange(ref _draining, 1);
        try
        {
            using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            drain.CancelAfter(_options.ConnectionCloseTimeout);
            await _upgraded.Session.CloseAsync(drain.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // Drain cut short: the session is disposed below.
        }
        finally
        {
            await CloseCoreAsync().ConfigureAwait(false);
        }
    }

    internal void ReleaseStream() => Interlocked.Decrement(ref _streams);

    /// <summary>Whether a protocol may run on a limited connection: its handler opted in, or the options list it.</summary>
    private bool RunsOnLimitedConnections(string protocol) =>
        (_registry.TryGet(protocol, out var handler) && handler.RunOnLimitedConnections)
        || _options.LimitedConnectionProtocols.Contains(protocol) || _options.AllProtocolsOnLimitedConnections;

    // A protocol whose handler always answers the first message: its acceptance may leave with that answer.
    private bool RepliesToFirstMessage(string protocol) => _registry.TryGet(protocol, out var handler) && handler.RepliesToFirstMessage;

    private async Task HandleInboundAsync(IMuxedStream stream, StreamScope scope, CancellationToken token)
    {
        HostStream? hostStream = null;
        try
        {
            string protocol;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(token))
            {
                timeout.CancelAfter(_options.StreamNegotiationTimeout);
                protocol = IsLimited || IsAnonymous
                    ? await MultistreamSelect.HandleAsync(stream, ServesInbound, _registry.Protocols.Where(ServesInbound),
                        timeout.Token).ConfigureAwait(false)
                    : await MultistreamSelect.HandleBeforeReplyAsync(stream, _registry.Protocols, RepliesToFirstMessage, timeout.Token)
                        .ConfigureAwait(false);
            }
            if (!_registry.TryGet(protocol, out var handler))
            {
                stream.Reset(); // removed between negotiation and dispatch
                return;
            }
            scope.SetProtocol(protocol);
            hostStream = new HostStream(stream, stream, protocol, this, scope);
            await handler.HandleAsync(hostStream, token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (!token.IsCancellationRequested) LogInboundStreamFailed(RemotePeer, ex.Message);
            stream.Reset();
        }
        finally
        {
            if (hostStream is not null) await hostStream.DisposeAsync().ConfigureAwait(false);
            else if (stream is not null) await DisposeUnnegotiatedAsync(stream, scope).ConfigureAwait(false);
        }
    }

    private async ValueTask DisposeUnnegotiatedAsync(IMuxedStream stream, StreamScope scope)
    {
        try
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            scope.Dispose();
            ReleaseStream();
        }
    }

    private async Task CloseCoreAsync()
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            await _closed.Task.ConfigureAwait(false);
            return;
        }
        await _lifetime.CancelAsync().ConfigureAwait(false);
        try
        {
            await _upgraded.Session.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogCloseFailed(RemotePeer, ex.Message);
        }
        try
        {
            _onClosed(this);
        }
        catch (Exception ex)
        {
            LogCloseFailed(RemotePeer, ex.Message);
        }
        // The session is gone: its windows were returned as its streams ended; the connection's count goes now.
        Resources.Dispose();
        // _lifetime is cancelled, not disposed: late callers may still link to its token.
        _closed.TrySetResult();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Inbound stream from {Peer} failed: {Reason}")]
    private partial void LogInboundStreamFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Inbound stream from {Peer} refused: {Limit} streams per connection")]
    private partial void LogStreamRefused(PeerId peer, long limit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Inbound stream from {Peer} refused: {Reason}")]
    private partial void LogStreamRefusedByResources(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The stream accept loop of the connection with {Peer} failed")]
    private partial void LogAcceptLoopFailed(PeerId peer, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Closing the session with {Peer} failed: {Reason}")]
    private partial void LogCloseFailed(PeerId peer, string reason);
}

/// <summary>What the host knows of the transport a connection came through.</summary>
internal readonly record struct TransportInfo(string Name, bool IsProxy, ConnectionLimits? Limits, bool IsAnonymous);
