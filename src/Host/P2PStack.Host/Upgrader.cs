using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Multistream;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// Turns a raw transport connection into a muxer session, one typed step at a time:
/// raw -> protectors -> multistream(security) -> secure channel -> [filters] -> early muxer or multistream(muxer) ->
/// session. The role (initiator or responder) comes from the raw connection's direction, which a simultaneous open
/// sets from the dial context; the identity from the dial context or the host. The caller's token bounds the whole
/// upgrade; any failure aborts the raw connection.
/// </summary>
public sealed partial class Upgrader
{
    private readonly ILocalIdentity _identity;
    private readonly IConnectionProtector[] _protectors;
    private readonly Dictionary<string, ISecureChannel> _channels;
    private readonly string[] _securityIds;
    // The channels that opted in to optimistic negotiation (IOptimisticSecureChannel).
    private readonly HashSet<string> _optimisticIds;
    private readonly Dictionary<string, IStreamMuxer> _muxers;
    private readonly string[] _muxerIds;
    private readonly Dictionary<string, ISecuredConnectionFilter> _filters;
    private readonly IConnectionGater[] _gaters;
    private readonly ILogger<Upgrader> _logger;
    private readonly IDefaultConnectionFilters? _defaults;

    /// <param name="defaults">Filters for dials that name none, and required of inbound connections when the
    /// defaults say so.</param>
    public Upgrader(ILocalIdentity identity, IEnumerable<IConnectionProtector> protectors, IEnumerable<ISecureChannel> channels,
        IEnumerable<IStreamMuxer> muxers, IEnumerable<ISecuredConnectionFilter> filters, IEnumerable<IConnectionGater> gaters,
        ILogger<Upgrader> logger, IDefaultConnectionFilters? defaults = null)
    {
        _identity = identity;
        _protectors = [.. protectors];
        var channelList = channels.ToList();
        var muxerList = muxers.ToList();
        if (channelList.Count == 0) throw new InvalidOperationException("no secure channel is registered (e.g. AddNoise)");
        if (muxerList.Count == 0) throw new InvalidOperationException("no stream muxer is registered (e.g. AddYamux)");
        // Registration order is preference order; a later registration of the same id is ignored.
        _channels = channelList.DistinctBy(c => c.ProtocolId).ToDictionary(c => c.ProtocolId, StringComparer.Ordinal);
        _securityIds = [.. channelList.Select(c => c.ProtocolId).Distinct(StringComparer.Ordinal)];
        _optimisticIds = new(_channels.Values.OfType<IOptimisticSecureChannel>().Select(c => c.ProtocolId), StringComparer.Ordinal);
        _muxers = muxerList.DistinctBy(m => m.ProtocolId).ToDictionary(m => m.ProtocolId, StringComparer.Ordinal);
        _muxerIds = [.. muxerList.Select(m => m.ProtocolId).Distinct(StringComparer.Ordinal)];
        _filters = filters.DistinctBy(f => f.ProtocolId).ToDictionary(f => f.ProtocolId, StringComparer.Ordinal);
        if (_filters.Keys.Any(_muxers.ContainsKey))
            throw new InvalidOperationException("a secured-connection filter and a muxer share a protocol id");
        _gaters = [.. gaters];
        _logger = logger;
        if (defaults is { Filters.Count: > 0 })
        {
            foreach (string filter in defaults.Filters)
                if (!_filters.ContainsKey(filter)) throw new InvalidOperationException($"default filter {filter} is not registered");
            _defaults = defaults;
        }
    }

    /// <summary>The filters dials that name none ask for, and whether they are required; null: none.</summary>
    public IDefaultConnectionFilters? DefaultFilters => _defaults;

    /// <summary>Security protocol ids in preference order.</summary>
    public IReadOnlyList<string> SecurityProtocols => _securityIds;

    /// <summary>Muxer protocol ids in preference order.</summary>
    public IReadOnlyList<string> Muxers => _muxerIds;

    /// <summary>Protocol ids of the registered secured-connection filters.</summary>
    public IReadOnlyCollection<string> Filters => _filters.Keys;

    /// <summary>
    /// Upgrades a connection this host dialed, with the dial's options (security protocols, identity, filters). The
    /// role is <paramref name="role"/> if given (a simultaneous open whose connection arrived through a listener),
    /// else the raw connection's direction (Inbound when the transport took the server role of a simultaneous open).
    /// </summary>
    /// <param name="resources">The connection's resource scope, where the muxer reserves its buffers.</param>
    /// <param name="optimisticSecurity">A security protocol the remote accepted recently (<see cref="SecuritySuiteMemory"/>):
    /// when it is among those offered and its channel is an <see cref="IOptimisticSecureChannel"/>, the dialer proposes it alone and sends the handshake's first message with the
    /// proposal, without waiting for the answer. A failure before the handshake completes then throws
    /// <see cref="OptimisticSecurityException"/>, for the caller to dial again without it.</param>
    public Task<UpgradedConnection> UpgradeOutboundAsync(IRawConnection raw, PeerId? expectedPeer, DialOptions options,
        CancellationToken cancellationToken, Direction? role = null, IResourceScope? resources = null,
        string? optimisticSecurity = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<string> offered = _securityIds;
        if (options.SecurityProtocols is { } requested)
        {
            offered = [.. requested.Where(_channels.ContainsKey)];
            if (offered.Count == 0)
                throw new ArgumentException($"none of the requested security protocols is registered: {string.Join(", ", requested)}",
                    nameof(options));
        }
        IReadOnlyList<string> filters = options.Filters ?? _defaults?.Filters ?? [];
        foreach (string filter in filters)
        {
            if (!_filters.ContainsKey(filter))
                throw new ArgumentException($"secured-connection filter {filter} is not registered", nameof(options));
        }
        bool optional = options.Filters is null && _defaults is { Required: false };
        var direction = role ?? raw.Direction;
        string? optimistic = direction == Direction.Outbound && optimisticSecurity is not null && offered.Contains(optimisticSecurity)
            && _optimisticIds.Contains(optimisticSecurity) ? optimisticSecurity : null;
        return UpgradeAsync(raw, direction, options.Identity ?? _identity, expectedPeer, offered, filters,
            cancellationToken, resources, optional, optimistic);
    }

    /// <summary>The security protocols a dial with <paramref name="options"/> offers, in order (what a full negotiation
    /// chooses from, and so what a remembered choice is valid for).</summary>
    public IReadOnlyList<string> OfferedSecurity(DialOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.SecurityProtocols is { } requested ? [.. requested.Where(_channels.ContainsKey)] : _securityIds;
    }

    /// <summary>Upgrades a connection a listener accepted, as responder under the host's identity (or the one the
    /// connection names, <see cref="IRawConnection.LocalIdentity"/>).</summary>
    public Task<UpgradedConnection> UpgradeInboundAsync(IRawConnection raw, CancellationToken cancellationToken,
        IResourceScope? resources = null) =>
        UpgradeAsync(raw, raw.Direction, raw.LocalIdentity ?? _identity, null, _securityIds, [], cancellationToken, resources);

    private async Task<UpgradedConnection> UpgradeAsync(IRawConnection raw, Direction role, ILocalIdentity identity,
        PeerId? expectedPeer, IReadOnlyList<string> securityIds, IReadOnlyList<string> filters,
        CancellationToken cancellationToken, IResourceScope? resources, bool optionalFilters = false,
        string? optimisticSecurity = null)
    {
        bool initiator = role == Direction.Outbound;
        // A responder whose defaults are required takes no muxer before the dialer has selected them.
        // The connection may name its own (a shadow service requiring padding).
        var requiredInbound = initiator ? null
            : raw.RequiredInboundFilters is { Count: > 0 } own ? own
            : _defaults is { Required: true } ? _defaults.Filters : null;
        ISecureConnection? secure = null;
        // Abort (not just close) on cancellation, so a handshake blocked in a read ends now.
        using var abortOnCancel = cancellationToken.Register(static r => ((IRawConnection)r!).Abort(), raw);
        try
        {
            IRawConnection connection = raw;
            foreach (var protector in _protectors)
                connection = await protector.ProtectAsync(connection, cancellationToken).ConfigureAwait(false);

            long handshakeStart = System.Diagnostics.Stopwatch.GetTimestamp();
            string securityId;
            if (optimisticSecurity is not null)
            {
                securityId = optimisticSecurity;
                secure = await SecureOptimisticallyAsync(connection, securityId, identity, expectedPeer,
                    filters.Count > 0 ? [] : _muxerIds, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                securityId = await NegotiateSecurityAsync(connection, initiator, securityIds, cancellationToken).ConfigureAwait(false);
                var channel = _channels[securityId];
                // A dialer that wants filters offers no early muxer: the filters are negotiated before the muxer.
                secure = initiator
                    ? await channel.SecureOutboundAsync(connection, identity, expectedPeer, filters.Count > 0 ? [] : _muxerIds,
                        cancellationToken).ConfigureAwait(false)
                    : await channel.SecureInboundAsync(connection, identity, requiredInbound is null ? _muxerIds : [], cancellationToken)
                        .ConfigureAwait(false);
            }
            var handshakeDuration = System.Diagnostics.Stopwatch.GetElapsedTime(handshakeStart);
            // The server side of a simultaneous open still knows whom it dialed.
            if (!initiator && expectedPeer is not null && !expectedPeer.Equals(secure.RemotePeer))
                throw new PeerIdMismatchException(expectedPeer, secure.RemotePeer);

            foreach (var gater in _gaters)
            {
                var decision = gater.InterceptSecured(role, secure.RemotePeer, raw.RemoteAddress, secure.SecurityProtocol);
                if (!decision.Allowed) throw new ConnectionGatedException("secured", decision.Reason ?? "denied");
            }

            var applied = new List<string>();
            string? muxerId = null;
            if (secure.EarlyMuxer is { } early && _muxers.ContainsKey(early))
            {
                muxerId = early;
            }
            else if (initiator)
            {
                foreach (string filter in filters)
                {
                    if (optionalFilters)
                    {
                        // The remote may refuse it: the muxer is proposed next in the same negotiation.
                        string selected = await MultistreamSelect.SelectAsync(secure, [filter, .. _muxerIds], cancellationToken)
                            .ConfigureAwait(false);
                        if (selected != filter)
                        {
                            _defaults!.WentWithout(filter);
                            muxerId = selected;
                            break;
                        }
                    }
                    else
                    {
                        try
                        {
                            await MultistreamSelect.SelectAsync(secure, [filter], cancellationToken).ConfigureAwait(false);
                        }
                        catch (ProtocolNotSupportedException) when (_defaults is not null && ReferenceEquals(filters, _defaults.Filters))
                        {
                            _defaults.Refused(role);
                            throw;
                        }
                    }
                    secure = new FilteredSecureConnection(secure, _filters[filter].Apply(secure, role));
                    applied.Add(filter);
                }
                muxerId ??= await MultistreamSelect.SelectAsync(secure, _muxerIds, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // The dialer may select filters (each once, in its order) before it selects a muxer; muxers only once
                // every required default filter runs.
                while (true)
                {
                    bool muxerAllowed = requiredInbound is null || requiredInbound.All(applied.Contains);
                    var offered = _filters.Keys.Where(f => !applied.Contains(f)).Concat(muxerAllowed ? _muxerIds : []).ToArray();
                    string selected;
                    try
                    {
                        selected = await MultistreamSelect.HandleAsync(secure, offered, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception) when (!muxerAllowed && !cancellationToken.IsCancellationRequested)
                    {
                        // The dialer gave up after its muxer was refused: it does not run the required filters.
                        _defaults?.Refused(role);
                        throw;
                    }
                    if (!_filters.TryGetValue(selected, out var filter))
                    {
                        muxerId = selected;
                        break;
                    }
                    secure = new FilteredSecureConnection(secure, filter.Apply(secure, role));
                    applied.Add(selected);
                }
            }
            var session = _muxers[muxerId].StartSession(secure, role, resources);
            LogUpgraded(role, secure.RemotePeer, raw.RemoteAddress.ToString(), securityId, muxerId);
            return new UpgradedConnection(raw, secure, session, muxerId, handshakeDuration)
            {
                Role = role,
                Identity = identity,
                Filters = applied,
            };
        }
        catch (Exception ex)
        {
            raw.Abort();
            if (secure is not null) await secure.DisposeAsync().ConfigureAwait(false);
            LogUpgradeFailed(role, raw.RemoteAddress.ToString(), ex.Message);
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
            if (ex is IOException && cancellationToken.IsCancellationRequested)
                throw new OperationCanceledException("the connection upgrade was cancelled", ex, cancellationToken);
            throw;
        }
    }

    // multistream-select of the security protocol, one round trip per proposal the listener refuses.
    private async Task<string> NegotiateSecurityAsync(IRawConnection connection, bool initiator, IReadOnlyList<string> securityIds,
        CancellationToken cancellationToken)
    {
        try
        {
            return initiator
                ? await MultistreamSelect.SelectAsync(connection, securityIds, cancellationToken).ConfigureAwait(false)
                // An optimistic channel's responder always answers message 1: an acceptance that arrived with it can wait for it.
                : await MultistreamSelect.HandleBeforeReplyAsync(connection, securityIds, _optimisticIds.Contains, cancellationToken)
                    .ConfigureAwait(false);
        }
        catch (ProtocolNotSupportedException ex)
        {
            // Typically a post-quantum policy meeting a classical-only peer: say so plainly.
            throw new HandshakeException(
                $"no common security protocol with {connection.RemoteAddress}: this node offers {string.Join(", ", securityIds)}", ex);
        }
        catch (Exception ex) when (_protectors.Length > 0 && ex is MultistreamException or IOException)
        {
            // Behind a private network key, first bytes that do not decrypt to multistream-select (or a remote that
            // resets on ours) mean, almost always, a peer holding another key or none: say that, not "malformed".
            throw new HandshakeException(
                $"private network: {connection.RemoteAddress} does not speak through this node's swarm key (it likely holds another key, or none): {ex.Message}", ex);
        }
    }

    // Header, proposal and the handshake's first message leave in one write; the answer is read before message 2. A
    // refusal, or a remote that drops the connection before its answer arrived, is reported as optimistic (the dial is
    // repeated in full). Once the remote accepted the suite, a failure is the handshake's own (authentication, a bad
    // key, a timeout) and is thrown as it is: repeating the dial would hide it and give a failing peer two handshakes.
    private async Task<ISecureConnection> SecureOptimisticallyAsync(IRawConnection connection, string securityId,
        ILocalIdentity identity, PeerId? expectedPeer, IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        var lazy = MultistreamSelect.ProposeLazily(connection, securityId);
        try
        {
            return await _channels[securityId].SecureOutboundAsync(new OptimisticallyNegotiatedConnection(connection, lazy),
                identity, expectedPeer, muxers, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not PeerIdMismatchException && !lazy.IsConfirmed && !cancellationToken.IsCancellationRequested)
        {
            LogOptimisticFailed(connection.RemoteAddress.ToString(), securityId, ex.Message);
            throw new OptimisticSecurityException(securityId, connection.RemoteAddress, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "optimistic {Security} with {Address} failed, the dial is repeated with full negotiation: {Reason}")]
    private partial void LogOptimisticFailed(string address, string security, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Direction} connection to {Peer} at {Address} upgraded: {Security}, {Muxer}")]
    private partial void LogUpgraded(Direction direction, PeerId peer, string address, string security, string muxer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Direction} connection upgrade with {Address} failed: {Reason}")]
    private partial void LogUpgradeFailed(Direction direction, string address, string reason);
}

/// <summary>The result of an upgrade: the raw connection, its secure layer (filtered, when filters run) and the
/// running muxer session.</summary>
public sealed record UpgradedConnection(IRawConnection Raw, ISecureConnection Secure, IMuxerSession Session, string Muxer,
    TimeSpan SecurityHandshakeDuration)
{
    /// <summary>This side's role in the upgrade.</summary>
    public Direction Role { get; init; } = Raw.Direction;

    /// <summary>The identity this side authenticated as; null means the host's.</summary>
    public ILocalIdentity? Identity { get; init; }

    /// <summary>Secured-connection filters applied, outermost first.</summary>
    public IReadOnlyList<string> Filters { get; init; } = [];
}

/// <summary>A secure connection whose pipe a filter wraps: the identity is the inner connection's; disposing ends the
/// filter, then the inner connection.</summary>
internal sealed class FilteredSecureConnection(ISecureConnection inner, IFilteredPipe filtered) : ISecureConnection
{
    public System.IO.Pipelines.PipeReader Input => filtered.Input;

    public System.IO.Pipelines.PipeWriter Output => filtered.Output;

    public IRawConnection Raw => inner.Raw;

    public PeerId RemotePeer => inner.RemotePeer;

    public PublicKey RemotePublicKey => inner.RemotePublicKey;

    public string SecurityProtocol => inner.SecurityProtocol;

    public string? EarlyMuxer => null;

    /// <summary>The secure connection under the filters (e.g. a Noise connection, for its post-quantum level).</summary>
    public ISecureConnection Inner => inner is FilteredSecureConnection f ? f.Inner : inner;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await filtered.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            await inner.DisposeAsync().ConfigureAwait(false);
        }
    }
}
