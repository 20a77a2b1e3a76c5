using System.Buffers;
using System.Net.Sockets;
using P2PStack.Network;

namespace P2PStack.Transports.Tcp;

/// <summary>
/// A connected socket as a pair of pipes (see <see cref="PipedConnection"/>). What one flush made available goes out
/// in one system call. Completing the output half-closes (FIN); <see cref="PipedConnection.Abort"/> resets.
/// </summary>
internal sealed class SocketConnection : PipedConnection
{
    private readonly Socket _socket;
    private volatile bool _sendShutDown;
    private GatherSend? _gather; // used by the send loop only

    public SocketConnection(Socket socket, Direction direction, TcpTransportOptions options)
        : base(direction, TcpAddresses.FromEndPoint(socket.LocalEndPoint), TcpAddresses.FromEndPoint(socket.RemoteEndPoint), options)
    {
        _socket = socket;
        Start();
    }

    protected override async ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        int received = await _socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
        if (received == 0)
        {
            // A reset reaches only the first syscall that looks; if that was a send, recv sees a plain end.
            if (SendFailure is { } sendFailure) throw sendFailure;
            if (!_sendShutDown && SocketOptions.WasReset(_socket))
                throw new IOException($"connection to {RemoteAddress} was reset by the remote");
        }
        return received; // 0: the remote half-closed
    }

    protected override async ValueTask SendAsync(ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            await _socket.SendAsync(buffer.First, SocketFlags.None).ConfigureAwait(false);
        }
        else if (GatherSend.CanSend(buffer))
        {
            // All segments of a flush in one system call.
            _gather ??= new GatherSend();
            for (var rest = buffer; !rest.IsEmpty;)
            {
                rest = rest.Slice(await _gather.SendAsync(_socket, rest).ConfigureAwait(false));
            }
        }
        else
        {
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                await _socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
            }
        }
    }

    protected override ValueTask CloseOutputAsync()
    {
        _sendShutDown = true;
        _socket.Shutdown(SocketShutdown.Send);
        return ValueTask.CompletedTask;
    }

    protected override IOException TranslateError(Exception e, string operation) => e switch
    {
        SocketException { SocketErrorCode: SocketError.ConnectionReset } => new IOException($"connection to {RemoteAddress} was reset by the remote", e),
        SocketException s => new IOException($"TCP {operation} failed on the connection to {RemoteAddress}: {s.SocketErrorCode}", e),
        ObjectDisposedException => new IOException($"connection to {RemoteAddress} is closed", e),
        _ => new IOException($"TCP {operation} failed on the connection to {RemoteAddress}: {e.Message}", e),
    };

    protected override void ResetTransport() => SocketOptions.Reset(_socket);

    protected override void ReleaseTransport() => _socket.Dispose();

    protected override void OnClosed() => _gather?.Dispose();
}
