using System.IO.Pipelines;
using P2PStack.Addressing;

namespace P2PStack.Network;

/// <summary>
/// Moves bytes between two addresses (TCP, WebSocket, memory; later relay circuits and onion circuits).
/// A transport knows nothing of security or multiplexing: it yields raw connections that the upgrader secures.
/// </summary>
public interface ITransport
{
    /// <summary>Short name for logs and metrics: "tcp", "ws", "memory".</summary>
    string Name { get; }

    bool CanDial(Multiaddr address);

    bool CanListen(Multiaddr address);

    /// <summary>Opens a raw connection. Cancelling the token aborts the attempt (including DNS and connect).</summary>
    ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken);

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

    Direction Direction { get; }

    /// <summary>Drops the connection immediately (TCP RST where possible); pending reads and writes fail.</summary>
    void Abort();
}

/// <summary>
/// Wraps raw connections below security, e.g. libp2p private networks (pre-shared key) or traffic padding.
/// Protectors run in registration order, before the security handshake.
/// </summary>
public interface IConnectionProtector
{
    ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken);
}
