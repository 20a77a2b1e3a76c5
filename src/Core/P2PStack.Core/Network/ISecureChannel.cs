using System.IO.Pipelines;
using P2PStack.Identity;

namespace P2PStack.Network;

/// <summary>
/// A security handshake negotiated by multistream-select (<c>/noise</c>, <c>/noise-mlkem768-hfs/0.1.0</c>, ...).
/// It authenticates the remote peer and encrypts everything after the handshake. The upgrader passes the identity to
/// authenticate as with each connection: the host's, or a per-connection one (<see cref="DialOptions.Identity"/>).
/// </summary>
public interface ISecureChannel
{
    /// <summary>The multistream-select protocol id of this channel.</summary>
    string ProtocolId { get; }

    /// <summary>
    /// Runs the handshake as initiator, authenticating as <paramref name="identity"/>. When
    /// <paramref name="expectedRemotePeer"/> is set, a different authenticated peer fails the handshake with
    /// <see cref="PeerIdMismatchException"/>.
    /// </summary>
    /// <param name="muxers">Muxer protocol ids offered for early negotiation inside the handshake, in preference
    /// order; empty when the channel should not negotiate one.</param>
    ValueTask<ISecureConnection> SecureOutboundAsync(IRawConnection connection, ILocalIdentity identity,
        PeerId? expectedRemotePeer, IReadOnlyList<string> muxers, CancellationToken cancellationToken);

    /// <summary>Runs the handshake as responder, authenticating as <paramref name="identity"/>.</summary>
    ValueTask<ISecureConnection> SecureInboundAsync(IRawConnection connection, ILocalIdentity identity,
        IReadOnlyList<string> muxers, CancellationToken cancellationToken);
}

/// <summary>
/// A secure channel whose handshake suits optimistic security negotiation (docs/architecture.md): the initiator writes
/// the first message without waiting to read, and the responder answers that first message before it waits for
/// anything else (Noise XX, TLS 1.3). Only for such a channel does a dialer send its first message with its proposal,
/// and a listener leave its multistream acceptance for the handshake's answer to carry. A channel that does not
/// implement it is negotiated in full and its acceptance sent at once: otherwise an initiator that reads first would
/// wait for an answer to a proposal never sent, and a responder that stays silent would hold back the acceptance a
/// dialer may wait for.
/// </summary>
public interface IOptimisticSecureChannel : ISecureChannel
{
}

/// <summary>An authenticated, encrypted connection: plaintext in and out through the pipe.</summary>
public interface ISecureConnection : IDuplexPipe, IAsyncDisposable
{
    /// <summary>The underlying transport connection (addresses, direction, abort).</summary>
    IRawConnection Raw { get; }

    PeerId RemotePeer { get; }

    PublicKey RemotePublicKey { get; }

    /// <summary>The negotiated security protocol id, e.g. <c>/noise</c>.</summary>
    string SecurityProtocol { get; }

    /// <summary>The muxer agreed inside the handshake (early muxer negotiation), or null to negotiate it with
    /// multistream-select.</summary>
    string? EarlyMuxer { get; }
}

/// <summary>A key pair a connection authenticates with: the node's own (in DI), or a per-connection one.</summary>
public interface ILocalIdentity
{
    PrivateKey PrivateKey { get; }

    PeerId PeerId { get; }
}

/// <summary>The handshake authenticated a peer other than the one dialed.</summary>
public sealed class PeerIdMismatchException(PeerId expected, PeerId actual)
    : System.Security.Authentication.AuthenticationException($"expected peer {expected} but the remote authenticated as {actual}")
{
    public PeerId Expected { get; } = expected;

    public PeerId Actual { get; } = actual;
}

/// <summary>A handshake failed: bad signature, malformed message, protocol violation, or a policy refusal.</summary>
public class HandshakeException : System.Security.Authentication.AuthenticationException
{
    public HandshakeException(string message) : base(message) { }

    public HandshakeException(string message, Exception? inner) : base(message, inner) { }
}
