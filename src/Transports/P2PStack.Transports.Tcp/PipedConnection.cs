using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Tcp;

/// <summary>
/// A byte-stream connection as a pair of pipes, shared by the TCP and WebSocket transports. One loop receives into
/// the input pipe (pausing when the application has <see cref="TcpTransportOptions.MaxBufferedBytes"/> unread, which
/// lets flow control push back on the sender); another sends what the application flushes. Completing the output
/// closes our direction (<see cref="CloseOutputAsync"/>); <see cref="Abort"/> resets. Subclasses supply the
/// transport's primitives and call <see cref="Start"/> at the end of their constructor.
/// </summary>
internal abstract class PipedConnection : IRawConnection
{
    /// <summary>The smallest buffer handed to <see cref="ReceiveAsync"/>.</summary>
    protected const int MinimumReceiveBuffer = 16 * 1024;

    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly TimeSpan _closeTimeout;
    private readonly int _bulkReceiveBuffer; // while a receive fills what it is given (bulk data)
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;
    private volatile bool _aborted;
    private volatile IOException? _sendFailure;
    private int _disposed;

    protected PipedConnection(Direction direction, Multiaddr localAddress, Multiaddr remoteAddress, TcpTransportOptions options)
    {
        Direction = direction;
        LocalAddress = localAddress;
        RemoteAddress = remoteAddress;
        _closeTimeout = options.CloseTimeout;
        _bulkReceiveBuffer = (int)Math.Max(MinimumReceiveBuffer, Math.Min(options.BulkReceiveBufferSize, options.MaxBufferedBytes));
        _input = new Pipe(PipeOptionsFor(options));
        _output = new Pipe(PipeOptionsFor(options));
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

    /// <summary>The error that ended the send loop, if any: a reset first seen by a send, for the receiver to report.</summary>
    protected IOException? SendFailure => _sendFailure;

    /// <summary>Receives into <paramref name="buffer"/>; 0 means the remote closed its direction cleanly.</summary>
    protected abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer);

    /// <summary>Sends everything in <paramref name="buffer"/>.</summary>
    protected abstract ValueTask SendAsync(ReadOnlySequence<byte> buffer);

    /// <summary>Ends our direction after the last send (TCP FIN, WebSocket Close frame).</summary>
    protected abstract ValueTask CloseOutputAsync();

    /// <summary>Maps a transport exception that is not already an <see cref="IOException"/>.</summary>
    protected abstract IOException TranslateError(Exception e, string operation);

    /// <summary>Drops the transport at once (TCP RST).</summary>
    protected abstract void ResetTransport();

    /// <summary>Releases the transport after a graceful close.</summary>
    protected abstract void ReleaseTransport();

    /// <summary>Called once both loops have ended.</summary>
    protected virtual void OnClosed()
    {
    }

    /// <summary>Starts the loops; call once the subclass is fully constructed.</summary>
    protected void Start()
    {
        _receiving = ReceiveLoopAsync();
        _sending = SendLoopAsync();
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        try
        {
            int bufferSize = MinimumReceiveBuffer;
            while (true)
            {
                Memory<byte> memory = _input.Writer.GetMemory(bufferSize);
                int received = await ReceiveAsync(memory).ConfigureAwait(false);
                if (received == 0) break; // the remote closed its direction
                // A full buffer means more is queued (a bulk transfer): take it in larger pieces, with fewer calls.
                // Otherwise go back to the small buffer an idle connection holds while it waits.
                bufferSize = received == memory.Length ? _bulkReceiveBuffer : MinimumReceiveBuffer;
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
        try
        {
            while (true)
            {
                ReadResult result = await _output.Reader.ReadAsync().ConfigureAwait(false);
                if (_aborted) throw Aborted();
                ReadOnlySequence<byte> buffer = result.Buffer;
                await SendAsync(buffer).ConfigureAwait(false);
                _output.Reader.AdvanceTo(buffer.End);
                if (result.IsCompleted) break;
            }
            await CloseOutputAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            IOException failure = Translate(e, "send");
            _sendFailure = failure;
            error = failure;
        }
        await _output.Reader.CompleteAsync(error).ConfigureAwait(false);
    }

    private IOException Translate(Exception e, string operation)
    {
        if (_aborted) return Aborted();
        return e as IOException ?? TranslateError(e, operation);
    }

    private IOException Aborted() => new($"connection to {RemoteAddress} was aborted locally");

    public void Abort()
    {
        if (_aborted) return;
        _aborted = true;
        ResetTransport();
        // Wake loops parked on the pipes rather than on the transport.
        _output.Reader.CancelPendingRead();
        _input.Writer.CancelPendingFlush();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (!_aborted)
        {
            // Send what the application flushed, then close our direction; abort if the remote will not take it in time.
            await _output.Writer.CompleteAsync().ConfigureAwait(false);
            try
            {
                await _sending.WaitAsync(_closeTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Abort();
            }
            ReleaseTransport();
        }
        // The application is done reading: release a receive loop parked on a full input pipe.
        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await Task.WhenAll(_receiving, _sending).ConfigureAwait(false);
        OnClosed();
    }
}
