using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Discovery;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Trust;

/// <summary>
/// Enforces the security level (<see cref="SecurityLevel"/>) at every stage a connection or a discovery passes:
/// before a dial, after the security handshake (against the authenticated peer id, both directions), and on each
/// discovered peer. Revoking a peer closes its live connections at once. Refusals are logged and counted by reason.
/// </summary>
public sealed partial class TrustGater : IConnectionGater, IDiscoveryPolicy
{
    private readonly TrustStore _store;
    private readonly TrustOptions _options;
    private readonly TrustMetrics _metrics;
    private readonly IServiceProvider _services;
    private readonly ILogger<TrustGater> _logger;

    public TrustGater(TrustStore store, IOptions<TrustOptions> options, TrustMetrics metrics, IServiceProvider services,
        ILogger<TrustGater> logger)
    {
        _store = store;
        _options = options.Value;
        _metrics = metrics;
        _services = services;
        _logger = logger;
        _store.PeerRevoked += OnRevoked;
    }

    public SecurityLevel Level => _options.Level;

    public GateDecision InterceptDial(PeerId? peer, Multiaddr address)
    {
        if (peer is null) return GateDecision.Allow; // checked after the handshake, against the authenticated id
        if (Level >= SecurityLevel.Signed && _store.GetRevocation(peer) is { } revoked)
            return Refuse("dial", "revoked", $"peer {peer} is revoked{Because(revoked.Reason)}");
        if (Level == SecurityLevel.Strict && !_store.IsTrusted(peer))
            return Refuse("dial", "untrusted", $"strict security: peer {peer} is not trusted");
        return GateDecision.Allow;
    }

    public GateDecision InterceptAccept(Multiaddr localAddress, Multiaddr remoteAddress) => GateDecision.Allow;

    public GateDecision InterceptSecured(Direction direction, PeerId peer, Multiaddr remoteAddress, string securityProtocol)
    {
        if (Level == SecurityLevel.Development) return GateDecision.Allow;
        if (_store.GetRevocation(peer) is { } revoked)
            return Refuse("secured", "revoked", $"peer {peer} is revoked{Because(revoked.Reason)}");
        if (Level == SecurityLevel.Strict)
        {
            return _store.IsTrusted(peer)
                ? GateDecision.Allow
                : Refuse("secured", "untrusted", $"strict security: peer {peer} is not trusted");
        }
        if (Level == SecurityLevel.Secure)
        {
            bool postQuantum = IsPostQuantum(securityProtocol);
            if (postQuantum) _store.MarkPostQuantum(peer);
            else if (_store.HasUsedPostQuantum(peer))
                return Refuse("secured", "pq_downgrade",
                    $"peer {peer} used post-quantum security before and now offers only {securityProtocol}");
            if (_options.AutoTrustFirst)
            {
                // The name of an outbound connection is the address dialed (like an SSH known host); an inbound
                // peer is trusted by its id alone.
                string name = direction == Direction.Outbound ? remoteAddress.ToString() : peer.ToString();
                if (_store.TrustOnFirstUse(peer, name, out var known) == TofuOutcome.Conflict)
                    return Refuse("secured", "tofu_conflict", $"{name} was trusted as {known}, now it presents {peer}");
            }
        }
        return GateDecision.Allow;
    }

    public string? Refuse(PeerId peer, DiscoveryEvidence evidence, string source)
    {
        string? reason = null, label = null;
        if (Level >= SecurityLevel.Signed && evidence != DiscoveryEvidence.SignedRecord)
            (label, reason) = ("unsigned", $"{Level.ToName()} security uses only signed peer records");
        else if (Level >= SecurityLevel.Signed && _store.IsRevoked(peer))
            (label, reason) = ("revoked", $"peer {peer} is revoked");
        else if (Level == SecurityLevel.Strict && !_store.IsTrusted(peer))
            (label, reason) = ("untrusted", $"strict security: peer {peer} is not trusted");
        if (reason is null) return null;
        _metrics.DiscoveryRefused(source, label!);
        LogDiscoveryRefused(peer, source, reason);
        return reason;
    }

    /// <summary>Whether a security protocol is one of the hybrid post-quantum suites.</summary>
    public static bool IsPostQuantum(string securityProtocol) => securityProtocol.StartsWith("/noise-mlkem", StringComparison.Ordinal);

    private GateDecision Refuse(string stage, string label, string reason)
    {
        _metrics.ConnectionRefused(stage, label);
        LogRefused(stage, reason);
        return GateDecision.Deny(reason);
    }

    private static string Because(string? reason) => reason is null ? "" : $" ({reason})";

    private void OnRevoked(RevokedPeer revoked)
    {
        if (Level == SecurityLevel.Development) return;
        var host = _services.GetService<IPeerHost>();
        if (host is null) return;
        var connections = host.GetConnections(revoked.Peer);
        if (connections.Count == 0) return;
        LogClosingRevoked(revoked.Peer, connections.Count);
        foreach (var connection in connections) _ = CloseQuietlyAsync(connection);
    }

    private async Task CloseQuietlyAsync(IConnection connection)
    {
        try
        {
            // A cancelled token skips the drain: the revoked peer's streams are torn down now, not in a few seconds.
            await connection.CloseAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // Closed already, or torn down while closing: either way it is gone.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connection refused at {Stage}: {Reason}")]
    private partial void LogRefused(string stage, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Discovered peer {Peer} from {Source} ignored: {Reason}")]
    private partial void LogDiscoveryRefused(PeerId peer, string source, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Peer {Peer} revoked: closing its {Count} connection(s)")]
    private partial void LogClosingRevoked(PeerId peer, int count);
}
