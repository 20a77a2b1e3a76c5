using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Network;

/// <summary>
/// Moves bytes between two addresses (TCP, WebSocket, memory; later relay circuits and onion circuits).
/// A transport knows nothing of security or multiplexing: it yields raw connections that the upgrader secures.
/// A transport may be virtual, carrying its connections in streams of other connections (see
/// <see cref="StreamRawConnection"/>); the host resolves transports lazily, so such a transport may take
/// <see cref="IPeerHost"/> as a dependency.
/// </summary>
public interface ITransport
{
    /// <summary>Short name for logs and metrics: "tcp", "ws", "memory".</summary>
    string Name { get; }

    /// <summary>
    /// True when the transport carries connections through another peer (a relay circuit, an onion circuit): its
    /// connections are not direct (<see cref="IConnection.IsDirect"/>), a <see cref="DialOptions.ForceDirect"/> dial
    /// skips its addresses, and the host tries its addresses after those of direct transports.
    /// </summary>
    bool IsProxy => false;

    bool CanDial(Multiaddr address);

    bool CanListen(Multiaddr address);

    /// <summary>Opens a raw connection. Cancelling the token aborts the attempt (including DNS and connect).</summary>
    ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a raw connection for a dial with these options (the dial context), reached through the overload with the
    /// peer below, which the host always dials through. A transport that can take part in a simultaneous open (TCP) honours
    /// <see cref="DialOptions.SimultaneousOpenRole"/> by dialing from its listen port and reporting that role as the
    /// connection's <see cref="IRawConnection.Direction"/>. By default the options are ignored.
    /// </summary>
    ValueTask<IRawConnection> DialAsync(Multiaddr address, DialOptions options, CancellationToken cancellationToken) =>
        DialAsync(address, cancellationToken);

    /// <summary>
    /// Opens a raw connection to <paramref name="peer"/> for a dial with these options: the host always dials through
    /// this overload. <paramref name="address"/> is the transport part (the trailing <c>/p2p</c> removed) and
    /// <paramref name="peer"/> the peer the dial must reach, or null when the address names none. A transport that must
    /// know whom it reaches reads it (an onion circuit's exit opens its stream to that peer, a relay circuit's address ends at <c>/p2p-circuit</c> and the relay
    /// is told which peer to connect to; go-libp2p hands the peer
    /// to every transport dial for the same reason); by default it is ignored.
    /// </summary>
    ValueTask<IRawConnection> DialAsync(Multiaddr address, PeerId? peer, DialOptions options, CancellationToken cancellationToken) =>
        DialAsync(address, options, cancellationToken);

    /// <summary>Binds the address. The listener reports the address really bound (the port chosen for port 0).</summary>
    ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken);
}

/// <summary>A bound listen address that accepts raw connections until disposed.</summary>
public interface IListener : IAsyncDisposable
{
    /// <summary>The address really bound, e.g. with the port the system chose for port 0.</summary>
    Multiaddr ListenAddress { get; }

    /// <summary>Waits for the next inbound connection.</summary>
    /// <exception cref="ObjectDisposedException">The listener was disposed (also thrown to pending accepts).</exception>
    ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A connection as a transport hands it over: an unauthenticated byte pipe. Completing <see cref="IDuplexPipe.Output"/>
/// half-closes the write side where the transport supports it; <see cref="IAsyncDisposable.DisposeAsync"/> closes
/// gracefully and <see cref="Abort"/> tears the connection down at once.
/// </summary>
public interface IRawConnection : IDuplexPipe, IAsyncDisposable
{
    Multiaddr LocalAddress { get; }

    Multiaddr RemoteAddress { get; }

    /// <summary>The role this side takes in the upgrade: Outbound is the initiator of every handshake. Normally who
    /// dialed; in a simultaneous open, the role the dial asked for.</summary>
    Direction Direction { get; }

    /// <summary>The limits the carrier of this connection announced (a relay's duration and data limits), or null
    /// for an unlimited connection. A limited connection only carries protocols that opt in.</summary>
    ConnectionLimits? Limits => null;

    /// <summary>
    /// True when the carrier hides the remote (the destination's end of an onion circuit: the remote is an ephemeral
    /// identity behind an exit relay). The connection is anonymous (<see cref="IConnection.IsAnonymous"/>): inbound
    /// streams on it run only protocols that opt in to anonymous connections.
    /// </summary>
    bool IsAnonymous => false;

    /// <summary>The identity this side authenticates as in the upgrade of an inbound connection (a shadow service's
    /// per-address identity, docs/specs/shadow.md); null: the host's. Outbound dials say it in
    /// <see cref="DialOptions.Identity"/> instead.</summary>
    ILocalIdentity? LocalIdentity => null;

    /// <summary>Secured-connection filters the dialer of this inbound connection must select before a muxer (a shadow
    /// service that requires padding on its introduced connections), else the upgrade fails; null or empty: the host's
    /// required defaults (<see cref="IDefaultConnectionFilters"/>), if any.</summary>
    IReadOnlyList<string>? RequiredInboundFilters => null;

    /// <summary>The host's admission, when the listener obtained it at accept (<see cref="IInboundAdmission"/>);
    /// null when the host is to admit the connection itself.</summary>
    IAdmissionTicket? Admission => null;

    /// <summary>Drops the connection immediately (TCP RST where possible); pending reads and writes fail.</summary>
    void Abort();
}

/// <summary>
/// Limits a relay (circuit relay v2 <c>Limit</c>) puts on a connection it carries: how long it stays open and how
/// many bytes it may carry in each direction; null means no limit of that kind. The relay enforces them by resetting
/// the circuit.
/// </summary>
public sealed record ConnectionLimits(TimeSpan? Duration, long? Data);

/// <summary>
/// Wraps raw connections below security, e.g. libp2p private networks (pre-shared key). Protectors run in
/// registration order, before the security handshake. A stage that must hide its own framing (padding cells) belongs
/// above security, as an <see cref="ISecuredConnectionFilter"/>.
/// </summary>
public interface IConnectionProtector
{
    ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken);
}
