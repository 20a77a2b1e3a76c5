using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Multistream;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// Turns a raw transport connection into a muxer session, one typed step at a time:
/// raw -> protectors -> multistream(security) -> secure channel -> early muxer or multistream(muxer) -> session.
/// The caller's token bounds the whole upgrade; any failure aborts the raw connection.
/// </summary>
public sealed partial class Upgrader
{
    private readonly IConnectionProtector[] _protectors;
    private readonly Dictionary<string, ISecureChannel> _channels;
    private readonly string[] _securityIds;
    private readonly Dictionary<string, IStreamMuxer> _muxers;
    private readonly string[] _muxerIds;
    private readonly IConnectionGater[] _gaters;
    private readonly ILogger<Upgrader> _logger;

    public Upgrader(IEnumerable<IConnectionProtector> protectors, IEnumerable<ISecureChannel> channels,
        IEnumerable<IStreamMuxer> muxers, IEnumerable<IConnectionGater> gaters, ILogger<Upgrader> logger)
    {
        _protectors = [.. protectors];
        var channelList = channels.ToList();
        var muxerList = muxers.ToList();
        if (channelList.Count == 0) throw new InvalidOperationException("no secure channel is registered (e.g. AddNoise)");
        if (muxerList.Count == 0) throw new InvalidOperationException("no stream muxer is registered (e.g. AddYamux)");
        // Registration order is preference order; a later registration of the same id is ignored.
        _channels = channelList.DistinctBy(c => c.ProtocolId).ToDictionary(c => c.ProtocolId, StringComparer.Ordinal);
        _securityIds = [.. channelList.Select(c => c.ProtocolId).Distinct(StringComparer.Ordinal)];
        _muxers = muxerList.DistinctBy(m => m.ProtocolId).ToDictionary(m => m.ProtocolId, StringComparer.Ordinal);
        _muxerIds = [.. muxerList.Select(m => m.ProtocolId).Distinct(StringComparer.Ordinal)];
        _gaters = [.. gaters];
        _logger = logger;
    }

    /// <summary>Security protocol ids in preference order.</summary>
    public IReadOnlyList<string> SecurityProtocols => _securityIds;

    /// <summary>Muxer protocol ids in preference order.</summary>
    public IReadOnlyList<string> Muxers => _muxerIds;

    /// <param name="securityProtocols">Security protocols to offer, in preference order; null offers all.</param>
    public Task<UpgradedConnection> UpgradeOutboundAsync(IRawConnection raw, PeerId? expectedPeer,
        IReadOnlyList<string>? securityProtocols, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> offered = _securityIds;
        if (securityProtocols is not null)
        {
            offered = [.. securityProtocols.Where(_channels.ContainsKey)];
            if (offered.Count == 0)
                throw new ArgumentException($"none of the requested security protocols is registered: {string.Join(", ", securityProtocols)}",
                    nameof(securityProtocols));
        }
        return UpgradeAsync(raw, expectedPeer, offered, cancellationToken);
    }

    public Task<UpgradedConnection> UpgradeInboundAsync(IRawConnection raw, CancellationToken cancellationToken) =>
        UpgradeAsync(raw, null, _securityIds, cancellationToken);

    private async Task<UpgradedConnection> UpgradeAsync(IRawConnection raw, PeerId? expectedPeer,
        IReadOnlyList<string> securityIds, CancellationToken cancellationToken)
    {
        bool outbound = raw.Direction == Direction.Outbound;
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
            try
            {
                securityId = outbound
                    ? await MultistreamSelect.SelectAsync(connection, securityIds, cancellationToken).ConfigureAwait(false)
                    : await MultistreamSelect.HandleAsync(connection, securityIds, cancellationToken).ConfigureAwait(false);
            }
            catch (ProtocolNotSupportedException ex)
            {
                // Typically a post-quantum policy meeting a classical-only peer: say so plainly.
                throw new HandshakeException(
                    $"no common security protocol with {raw.RemoteAddress}: this node offers {string.Join(", ", securityIds)}", ex);
            }
            var channel = _channels[securityId];
            secure = outbound
                ? await channel.SecureOutboundAsync(connection, expectedPeer, _muxerIds, cancellationToken).ConfigureAwait(false)
                : await channel.SecureInboundAsync(connection, _muxerIds, cancellationToken).ConfigureAwait(false);
            var handshakeDuration = System.Diagnostics.Stopwatch.GetElapsedTime(handshakeStart);

            foreach (var gater in _gaters)
            {
                var decision = gater.InterceptSecured(raw.Direction, secure.RemotePeer, raw.RemoteAddress, secure.SecurityProtocol);
                if (!decision.Allowed) throw new ConnectionGatedException("secured", decision.Reason ?? "denied");
            }

            string muxerId = secure.EarlyMuxer is { } early && _muxers.ContainsKey(early)
                ? early
                : outbound
                    ? await MultistreamSelect.SelectAsync(secure, _muxerIds, cancellationToken).ConfigureAwait(false)
                    : await MultistreamSelect.HandleAsync(secure, _muxerIds, cancellationToken).ConfigureAwait(false);
            var session = _muxers[muxerId].StartSession(secure, raw.Direction);
            LogUpgraded(raw.Direction, secure.RemotePeer, raw.RemoteAddress.ToString(), securityId, muxerId);
            return new UpgradedConnection(raw, secure, session, muxerId, handshakeDuration);
        }
        catch (Exception ex)
        {
            raw.Abort();
            if (secure is not null) await secure.DisposeAsync().ConfigureAwait(false);
            LogUpgradeFailed(raw.Direction, raw.RemoteAddress.ToString(), ex.Message);
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
            if (ex is IOException && cancellationToken.IsCancellationRequested)
                throw new OperationCanceledException("the connection upgrade was cancelled", ex, cancellationToken);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Direction} connection to {Peer} at {Address} upgraded: {Security}, {Muxer}")]
    private partial void LogUpgraded(Direction direction, PeerId peer, string address, string security, string muxer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Direction} connection upgrade with {Address} failed: {Reason}")]
    private partial void LogUpgradeFailed(Direction direction, string address, string reason);
}

/// <summary>The result of an upgrade: the raw connection, its secure layer and the running muxer session.</summary>
public sealed record UpgradedConnection(IRawConnection Raw, ISecureConnection Secure, IMuxerSession Session, string Muxer,
    TimeSpan SecurityHandshakeDuration);
