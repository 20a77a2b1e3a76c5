using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Tcp;

/// <summary>A bound, listening TCP socket.</summary>
internal sealed class TcpConnectionListener : IListener
{
    private readonly Socket _socket;
    private readonly TcpTransportOptions _options;
    private readonly CancellationTokenSource _closed = new();
    private readonly Action<TcpConnectionListener> _onDisposed;
    private int _disposed;

    public TcpConnectionListener(Socket socket, TcpTransportOptions options, Action<TcpConnectionListener> onDisposed)
    {
        _socket = socket;
        _options = options;
        _onDisposed = onDisposed;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        ListenAddress = TcpAddresses.FromEndPoint(LocalEndPoint);
    }

    public IPEndPoint LocalEndPoint { get; }

    public Multiaddr ListenAddress { get; }

    public async ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken)
    {
        Socket accepted = await AcceptSocketAsync(cancellationToken).ConfigureAwait(false);
        SocketOptions.ConfigureConnected(accepted, _options.NoDelay);
        return new SocketConnection(accepted, Direction.Inbound, _options);
    }

    /// <summary>The next accepted socket (shared with the WebSocket transport, which upgrades it).</summary>
    public async ValueTask<Socket> AcceptSocketAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closed.Token);
        while (true)
        {
            try
            {
                return await _socket.AcceptAsync(linked.Token).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset
                                             && _disposed == 0)
            {
                // The client gave up before we accepted it; wait for the next one.
            }
            catch (Exception e) when (_disposed != 0 && e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                throw new ObjectDisposedException($"the listener on {ListenAddress} was closed", e);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
        _onDisposed(this);
        _closed.Cancel();
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
