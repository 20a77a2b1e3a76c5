using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Tcp;

/// <summary>
/// A connected socket as a pair of pipes. One loop receives into the input pipe (pausing when the application has
/// <see cref="TcpTransportOptions.MaxBufferedBytes"/> unread, which lets TCP flow control push back on the sender);
/// another sends what the application flushes, all segments of a flush in one system call. Completing the output
/// half-closes (FIN); <see cref="Abort"/> resets.
/// </summary>
internal sealed class SocketConnection : IRawConnection
{
    private const int MinimumReceiveBuffer = 16 * 1024;
    private const int BulkReceiveBuffer = 64 * 1024;

    private readonly Socket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly Task _receiving;
    private readonly Task _sending;
    private readonly TimeSpan _closeTimeout;
    private volatile bool _aborted;
    private volatile bool _sendShutDown;
    private volatile IOException? _sendFailure;
    private int _disposed;

    public SocketConnection(Socket socket, Direction direction, TcpTransportOptions options)
    {
        _socket = socket;
        Direction = direction;
        LocalAddress = TcpAddresses.FromEndPoint(socket.LocalEndPoint);
        RemoteAddress = TcpAddresses.FromEndPoint(socket.RemoteEndPoint);
        _closeTimeout = options.CloseTimeout;
        _input = new Pipe(PipeOptionsFor(options));
        _output = new Pipe(PipeOptionsFor(options));
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    // The reader runs inline on the flushing thread: received bytes are processed (decrypted, demultiplexed) by the
    // receive loop's thread while still in cache, and flushed bytes are sent by the writer's thread, without a
    // hand-off through the thread pool per buffer. Both loops only await, never block, so this cannot deadlock.
    private static PipeOptions PipeOptionsFor(TcpTransportOptions options) => new(
        readerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: options.MaxBufferedBytes,
        resumeWriterThreshold: options.MaxBufferedBytes / 2,
        minimumSegmentSize: MinimumReceiveBuffer,
        useSynchronizationContext: false);

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
            int bufferSize = MinimumReceiveBuffer;
            while (true)
            {
                Memory<byte> memory = _input.Writer.GetMemory(bufferSize);
                int received = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    // A reset reaches only the first syscall that looks; if that was a send, recv sees a plain end.
                    if (_sendFailure is { } sendFailure) throw sendFailure;
                    if (!_sendShutDown && SocketOptions.WasReset(_socket))
                        throw new IOException($"connection to {RemoteAddress} was reset by the remote");
                    break; // the remote half-closed
                }
                // A full buffer means more is queued (a bulk transfer): take it in larger pieces, with fewer calls.
                // Otherwise go back to the small buffer an idle connection holds while it waits.
                bufferSize = received == memory.Length ? BulkReceiveBuffer : MinimumReceiveBuffer;
                _input.Writer.Advance(received);
                FlushResult flush = await _input.Writer.FlushAsync().ConfigureAwait(false);
                if (_aborted) throw Aborted();
                if (flush.IsCompleted) break; // the application stopped reading
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
        GatherSend? gather = null;
        try
        {
            while (true)
            {
                ReadResult result = await _output.Reader.ReadAsync().ConfigureAwait(false);
                if (_aborted) throw Aborted();
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (buffer.IsSingleSegment)
                {
                    await _socket.SendAsync(buffer.First, SocketFlags.None).ConfigureAwait(false);
                }
                else if (GatherSend.CanSend(buffer))
                {
                    gather ??= new GatherSend();
                    for (var rest = buffer; !rest.IsEmpty;)
                    {
                        rest = rest.Slice(await gather.SendAsync(_socket, rest).ConfigureAwait(false));
                    }
                }
                else
                {
                    foreach (ReadOnlyMemory<byte> segment in buffer)
                    {
                        await _socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                    }
                }
                _output.Reader.AdvanceTo(buffer.End);
                if (result.IsCompleted) break;
            }
            _sendShutDown = true;
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e)
        {
            error = Translate(e, "send");
            _sendFailure = (IOException)error;
        }
        gather?.Dispose();
        await _output.Reader.CompleteAsync(error).ConfigureAwait(false);
    }

    private IOException Translate(Exception e, string operation)
    {
        if (_aborted) return Aborted();
        return e switch
        {
            IOException io => io,
            SocketException { SocketErrorCode: SocketError.ConnectionReset } => new IOException($"connection to {RemoteAddress} was reset by the remote", e),
            SocketException s => new IOException($"TCP {operation} failed on the connection to {RemoteAddress}: {s.SocketErrorCode}", e),
            ObjectDisposedException => new IOException($"connection to {RemoteAddress} is closed", e),
            _ => new IOException($"TCP {operation} failed on the connection to {RemoteAddress}: {e.Message}", e),
        };
    }

    private IOException Aborted() => new($"connection to {RemoteAddress} was aborted locally");

    public void Abort()
    {
        if (_aborted) return;
        _aborted = true;
        SocketOptions.Reset(_socket);
        // Wake loops parked on the pipes rather than on the socket.
        _output.Reader.CancelPendingRead();
        _input.Writer.CancelPendingFlush();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (!_aborted)
        {
            // Send what the application flushed, then FIN; abort if the remote will not take it in time.
            await _output.Writer.CompleteAsync().ConfigureAwait(false);
            try
            {
                await _sending.WaitAsync(_closeTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Abort();
            }
            _socket.Dispose();
        }
        // The application is done reading: release a receive loop parked on a full input pipe.
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await Task.WhenAll(_receiving, _sending).ConfigureAwait(false);
    }
}
