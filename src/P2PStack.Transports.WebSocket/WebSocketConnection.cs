using System.IO.Pipelines;
using System.Net.Sockets;
using System.Net.WebSockets;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Transports.Tcp;
using WebSocketClass = System.Net.WebSockets.WebSocket;

namespace P2PStack.Transports.WebSocket;

/// <summary>
/// A WebSocket carrying a byte stream in binary messages (as js-libp2p's websockets transport does): message
/// boundaries mean nothing. Completing <see cref="Output"/> sends a Close frame, which per RFC 6455 ends only our
/// direction; the remote may keep sending until it closes too.
/// </summary>
internal sealed class WebSocketConnection : IRawConnection
{
    private const int MinimumReceiveBuffer = 16 * 1024;

    private readonly WebSocketClass _webSocket;
    private readonly Socket _socket;
    private readonly IDisposable? _owner;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly Task _receiving;
    private readonly Task _sending;
    private readonly TimeSpan _closeTimeout;
    private volatile bool _aborted;
    private int _disposed;

    public WebSocketConnection(WebSocketClass webSocket, Socket socket, Direction direction, TcpTransportOptions options, IDisposable? owner = null)
    {
        _webSocket = webSocket;
        _socket = socket;
        _owner = owner;
        Direction = direction;
        LocalAddress = WebSocketAddresses.WithWs(TcpAddresses.FromEndPoint(socket.LocalEndPoint));
        RemoteAddress = WebSocketAddresses.WithWs(TcpAddresses.FromEndPoint(socket.RemoteEndPoint));
        _closeTimeout = options.CloseTimeout;
        var pipeOptions = new PipeOptions(
            pauseWriterThreshold: options.MaxBufferedBytes,
            resumeWriterThreshold: options.MaxBufferedBytes / 2,
            minimumSegmentSize: MinimumReceiveBuffer,
            useSynchronizationContext: false);
        _input = new Pipe(pipeOptions);
        _output = new Pipe(pipeOptions);
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    public PipeReader Input => _input.Reader;

    public PipeWriter Output => _output.Writer;

    public Multiaddr LocalAddress { get; }

    public Multiaddr RemoteAddress { get; }

    public Direction Direction { get; }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                Memory<byte> memory = _input.Writer.GetMemory(MinimumReceiveBuffer);
                ValueWebSocketReceiveResult received = await _webSocket.ReceiveAsync(memory, CancellationToken.None).ConfigureAwait(false);
                if (received.MessageType == WebSocketMessageType.Close) break; // the remote closed its direction
                if (received.MessageType != WebSocketMessageType.Binary)
                    throw new IOException($"{RemoteAddress} sent a text WebSocket message; libp2p uses binary messages only");
                _input.Writer.Advance(received.Count);
                FlushResult flush = await _input.Writer.FlushAsync().ConfigureAwait(false);
                if (_aborted) throw Aborted();
                if (flush.IsCompleted) break;
            }
        }
        catch (Exception e)
        {
            error = Translate(e, "receive");
        }
        await _input.Writer.CompleteAsync(error).ConfigureAwait(false);
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await _output.Reader.ReadAsync().ConfigureAwait(false);
                if (_aborted) throw Aborted();
                foreach (ReadOnlyMemory<byte> segment in result.Buffer)
                {
                    await _webSocket.SendAsync(segment, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
                }
                _output.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
            await _webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            error = Translate(e, "send");
        }
        await _output.Reader.CompleteAsync(error).ConfigureAwait(false);
    }

    private IOException Translate(Exception e, string operation)
    {
        if (_aborted) return Aborted();
        return e switch
        {
            IOException io => io,
            WebSocketException { WebSocketErrorCode: WebSocketError.ConnectionClosedPrematurely } =>
                new IOException($"connection to {RemoteAddress} was closed without a WebSocket close (reset)", e),
            _ => new IOException($"WebSocket {operation} failed on the connection to {RemoteAddress}: {e.Message}", e),
        };
    }

    private IOException Aborted() => new($"connection to {RemoteAddress} was aborted locally");

    public void Abort()
    {
        if (_aborted) return;
        _aborted = true;
        SocketOptions.Reset(_socket);
        _webSocket.Abort();
        _output.Reader.CancelPendingRead();
        _input.Writer.CancelPendingFlush();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (!_aborted)
        {
            await _output.Writer.CompleteAsync().ConfigureAwait(false);
            try
            {
                await _sending.WaitAsync(_closeTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Abort();
            }
            _webSocket.Dispose();
            _socket.Dispose();
        }
        // The application is done reading: release a receive loop parked on a full input pipe.
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await Task.WhenAll(_receiving, _sending).ConfigureAwait(false);
        _owner?.Dispose();
    }
}
