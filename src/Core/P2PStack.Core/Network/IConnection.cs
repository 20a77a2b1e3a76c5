using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Network;

/// <summary>
/// An upgraded connection to one peer: authenticated, multiplexed, and ready to carry protocol streams.
/// </summary>
public interface IConnection
{
    /// <summary>Unique within this process, for logs and the control API.</summary>
    string Id { get; }

    PeerId RemotePeer { get; }

    PublicKey RemotePublicKey { get; }

    /// <summary>The identity this side authenticated as: the host's, or the per-connection identity the dial asked for
    /// (<see cref="DialOptions.Identity"/>).</summary>
    PeerId LocalPeer { get; }

    /// <summary>The public key of <see cref="LocalPeer"/>.</summary>
    PublicKey LocalPublicKey { get; }

    Multiaddr LocalAddress { get; }

    Multiaddr RemoteAddress { get; }

    /// <summary>This side's role: Outbound when it was the initiator of the upgrade (who dialed, or the client of a
    /// simultaneous open).</summary>
    Direction Direction { get; }

    /// <summary>The transport's name, e.g. "tcp".</summary>
    string Transport { get; }

    /// <summary>False when the connection runs through another peer (a transport with
    /// <see cref="ITransport.IsProxy"/>: relay or onion circuits).</summary>
    bool IsDirect { get; }

    /// <summary>The limits the relay carrying this connection announced, or null.</summary>
    ConnectionLimits? Limits { get; }

    /// <summary>True for a connection with <see cref="Limits"/>: it carries only protocols that opt in
    /// (<see cref="IProtocolHandler.RunOnLimitedConnections"/>); others are refused with
    /// <see cref="LimitedConnectionException"/> (outbound) or answered <c>na</c> (inbound).</summary>
    bool IsLimited => Limits is not null;

    /// <summary>
    /// True when one end is hidden: this side authenticated under a per-connection identity (a private connection, such
    /// as the client's end-to-end connection over an onion circuit) or the transport hides the remote
    /// (<see cref="IRawConnection.IsAnonymous"/>, the destination's end). Inbound streams then run only protocols that
    /// opt in (<see cref="IProtocolHandler.RunOnAnonymousConnections"/>), so that an anonymous peer can neither
    /// fingerprint this node by its services (DHT contents, topic subscriptions) nor use them through it, and identify
    /// lists only those protocols. Outbound streams are not restricted: the side that dials chooses what to run.
    /// </summary>
    bool IsAnonymous => false;

    /// <summary>Whether an inbound stream of <paramref name="protocol"/> is served on this connection: a registered
    /// protocol that, on a limited or anonymous connection, opts in to it.</summary>
    bool ServesInbound(string protocol) => true;

    /// <summary>Secured-connection filters running between the secure channel and the muxer, outermost first.</summary>
    IReadOnlyList<string> Filters { get; }

    /// <summary>The negotiated security protocol id, e.g. <c>/noise-mlkem768-hfs/0.1.0</c>.</summary>
    string SecurityProtocol { get; }

    /// <summary>The negotiated muxer protocol id, e.g. <c>/yamux/1.0.0</c>.</summary>
    string Muxer { get; }

    DateTimeOffset OpenedAt { get; }

    /// <summary>Time the security negotiation and handshake took (multistream-select plus the secure channel).</summary>
    TimeSpan SecurityHandshakeDuration { get; }

    int StreamCount { get; }

    /// <summary>Opens a stream and negotiates the first of <paramref name="protocols"/> the remote supports.</summary>
    /// <exception cref="ProtocolNotSupportedException">The remote supports none of them.</exception>
    /// <exception cref="MuxerClosedException">The connection is closing or was closed (by either side) meanwhile.</exception>
    /// <exception cref="OperationCanceledException">Only when <paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<IStream> OpenStreamAsync(IReadOnlyList<string> protocols, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a stream of <paramref name="protocol"/> for a protocol whose dialer speaks first: the multistream-select
    /// proposal waits in the stream's output and leaves with the caller's first flush, so that the protocol's first
    /// message travels with it (one write, and one wake-up at the listener, instead of two). The caller must write and
    /// flush before it waits for the remote. A refusal surfaces on the first read, as for any single-protocol open.
    /// By default (an implementation that cannot defer the proposal) the same as <see cref="OpenStreamAsync"/>.
    /// </summary>
    ValueTask<IStream> OpenStreamForFirstWriteAsync(string protocol, CancellationToken cancellationToken) =>
        OpenStreamAsync([protocol], cancellationToken);

    /// <summary>Closes gracefully: no new streams, then the muxer session and the transport connection.</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken);

    /// <summary>Completes when the connection has closed, for whatever reason.</summary>
    Task Completion { get; }
}

/// <summary>
/// A stream of one negotiated protocol. Completing <see cref="IDuplexPipe.Output"/> half-closes; <see cref="Reset"/>
/// aborts both directions; disposing closes both halves.
/// </summary>
public interface IStream : IDuplexPipe, IAsyncDisposable
{
    /// <summary>The negotiated protocol id.</summary>
    string Protocol { get; }

    IConnection Connection { get; }

    Direction Direction { get; }

    void Reset();

    /// <summary>Asks that this stream's reader be resumed on the muxer's read loop (see
    /// <see cref="IMuxedStream.TryReadInline"/>); returns whether it will be.</summary>
    bool TryReadInline() => false;
}

/// <summary>The remote answered <c>na</c> to every protocol offered.</summary>
public sealed class ProtocolNotSupportedException(IReadOnlyList<string> protocols)
    : IOException($"the remote peer supports none of: {string.Join(", ", protocols)}")
{
    public IReadOnlyList<string> Protocols { get; } = protocols;
}

/// <summary>
/// A protocol that did not opt in to limited connections was asked to run on one, or a dial that did not allow them
/// got only a limited connection (<see cref="Connection"/>, kept by the host for the protocols that do opt in).
/// </summary>
public sealed class LimitedConnectionException(string message, IConnection? connection = null)
    : InvalidOperationException(message)
{
    public IConnection? Connection { get; } = connection;
}

/// <summary>
/// Serves inbound streams of one or more protocol ids. Registered in DI; the host routes each negotiated stream to
/// the handler that lists its protocol. A handler owns the stream it is given and disposes it.
/// </summary>
public interface IProtocolHandler
{
    IReadOnlyList<string> Protocols { get; }

    /// <summary>
    /// Whether these protocols run on limited (relayed) connections, in both directions. Protocols that help set up
    /// direct connections opt in (identify, ping, DCUtR); everything else waits for a direct connection. False unless
    /// overridden.
    /// </summary>
    bool RunOnLimitedConnections => false;

    /// <summary>
    /// Whether these protocols are served inbound on anonymous connections (<see cref="IConnection.IsAnonymous"/>): the
    /// end-to-end connection over an onion circuit, at either end. Protocols that reveal nothing about this node opt in
    /// (identify, which then says no more than the protocols served there, and ping); an application offers itself to
    /// anonymous peers by opting in or through <c>HostOptions.AnonymousConnectionProtocols</c>. False unless overridden.
    /// </summary>
    bool RunOnAnonymousConnections => false;

    /// <summary>
    /// Whether these protocols are served inbound on a connection whose remote is anonymous while this side is the node
    /// itself (not a per-connection identity): the destination end of an onion circuit. The dialer named this node to
    /// reach it, so serving it there reveals nothing the dialer did not know; at the other end of such a connection, or
    /// where this side is a per-connection identity (a shadow service), only <see cref="RunOnAnonymousConnections"/>
    /// counts. The DHT opts in, so that records can be published and fetched over circuits. False unless overridden.
    /// </summary>
    bool RunForAnonymousRemotes => false;

    /// <summary>
    /// Whether the listener of these protocols always answers the dialer's first message (or resets the stream): then,
    /// when that message arrived with the dialer's proposal, the multistream-select acceptance waits in the stream's
    /// output and leaves with the answer, in one write. Never for a protocol whose listener may stay silent (a dialer
    /// that negotiated lazily waits for the acceptance before its FIN). False unless overridden.
    /// </summary>
    bool RepliesToFirstMessage => false;

    Task HandleAsync(IStream stream, CancellationToken cancellationToken);
}
