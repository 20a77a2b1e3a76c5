using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>
/// One yamux stream. Received data lands in a per-stream <see cref="Pipe"/> bounded by the receive window (never by
/// pipe backpressure, so the session's read loop never waits on a slow reader); sent data is framed straight into
/// the connection under the session write lock once send window is available. Window credit goes back to the remote
/// only for consumed bytes: a reader that examines without consuming can never see more than one window, so readers
/// of long messages consume as they go (as <c>LengthPrefixed</c> does).
/// </summary>
internal sealed class YamuxStream : IMuxedStream
{
    private static readonly PipeOptions InboundPipeOptions = new(
        pool: StreamBufferPool.Shared,
        pauseWriterThreshold: 0,
        resumeWriterThreshold: 0,
        minimumSegmentSize: StreamBufferPool.BlockSize,
        readerScheduler: ReadLoopScheduler.Instance,
        writerScheduler: PipeScheduler.Inline,
        useSynchronizationContext: false);

    private readonly Lock gate = new();
    private readonly Pipe inbound = new(InboundPipeOptions);
    private readonly YamuxStreamReader reader;
    private readonly YamuxStreamWriter writer;
    private readonly SemaphoreSlim sendSignal = new(0, int.MaxValue);

    // Receive accounting (under gate): window = credit + pending + unread + what a window update may still grant.
    private long recvWindow;
    private long recvCredit;
    private long recvPending;
    private long recvUnread;
    private long epochStart;
    private bool readerCompleted;
    private bool inboundCompleted;

    // The reader asked to be resumed on the read loop (TryReadInline); its data is flushed once per read batch.
    private volatile bool readInline;

    // Read loop only: data written to the inbound pipe and not flushed yet (see Session.DeferInboundFlush).
    internal bool InboundFlushPending;

    private long sendWindow = YamuxOptions.SpecInitialWindow;
    private bool sendWaiting;
    private bool flushCancelRequested;

    private bool finSent;
    private bool finReceived;
    private bool reset;
    private bool removed;
    private string? readFailure;
    private string? writeFailure;
    private bool failureIsReset;
    private Exception? sessionReason;
    private CancellationTokenSource? closeTimer;
    private Task? pendingClose;

    // Bytes reserved in the session's resource scope (under gate): the initial window and its growth.
    private long reservedMemory;

    /// <param name="reservedMemory">What the session reserved for the stream already (its initial window), released
    /// when the stream ends.</param>
    public YamuxStream(YamuxSession session, uint id, Direction direction, long reservedMemory = 0)
    {
        this.reservedMemory = reservedMemory;
        Session = session;
        StreamId = id;
        Direction = direction;
        recvWindow = recvCredit = session.Options.InitialStreamWindowSize;
        epochStart = session.Options.Clock.GetTimestamp();
        reader = new YamuxStreamReader(this, inbound.Reader);
        writer = new YamuxStreamWriter(this);
    }

    public YamuxSession Session { get; }

    public uint StreamId { get; }

    public long Id => StreamId;

    public Direction Direction { get; }

    public PipeReader Input => reader;

    public PipeWriter Output => writer;

    /// <summary>Window beyond the spec's 256 KiB, announced in the SYN or ACK frame.</summary>
    public uint AnnouncedWindowExtra => (uint)(Session.Options.InitialStreamWindowSize - YamuxOptions.SpecInitialWindow);

    // ---- Frames from the remote (session read loop) ----

    public void OnDataHeader(uint length)
    {
        lock (gate)
        {
            if (length > recvCredit)
            {
                throw new YamuxProtocolException(
                    $"data frame of {length} bytes on stream {StreamId} exceeds its receive window of {recvCredit}");
            }

            recvCredit -= length;
            recvPending += length;
        }
    }

    public void DeliverData(in ReadOnlySequence<byte> chunk)
    {
        long length = chunk.Length;
        bool deliver;
        uint update = 0;
        lock (gate)
        {
            recvPending -= length;
            deliver = !readerCompleted && !inboundCompleted && readFailure is null;
            if (deliver)
            {
                recvUnread += length;
            }
            else
            {
                update = TakeWindowUpdateLocked();
            }
        }

        if (!deliver)
        {
            SendWindowUpdate(update);
            return;
        }

        var pipeWriter = inbound.Writer;
        foreach (var segment in chunk)
        {
            pipeWriter.Write(segment.Span);
        }

        if (readInline)
        {
            // Flushed (and the reader resumed) once the read loop has delivered the whole batch it read: the reader
            // then sees every frame of the batch at once, as it did when it ran a moment later on the thread pool.
            Session.DeferInboundFlush(this);
            return;
        }

        FlushInbound();
    }

    /// <summary>Makes what was delivered readable (read loop only); a reader that asked for it is resumed on this
    /// thread.</summary>
    internal void FlushInbound()
    {
        lock (gate)
        {
            if (inboundCompleted)
            {
                return; // a FIN completed the pipe, which made the data readable with it
            }
        }

        // The pipe never pauses (the window bounds it), so this flush completes synchronously.
        var flush = readInline ? ReadLoopScheduler.FlushInline(inbound.Writer) : inbound.Writer.FlushAsync();
        if (flush.IsCompleted && flush.GetAwaiter().GetResult().IsCompleted)
        {
            CompleteInbound(); // the local reader is gone: free what it will never read
        }
    }

    /// <summary>Asks that the reader be resumed on the session's read loop rather than on the thread pool, for data:
    /// the read loop delivers a whole read batch, then runs the reader's continuation on its own thread before it reads
    /// the connection again (a FIN, a reset and the session's end still resume it on the thread pool). For a reader
    /// that does little per batch and never blocks, such as a relay's cell forwarding: it saves a thread-pool hand-off
    /// per batch. Always true for yamux.</summary>
    public bool TryReadInline()
    {
        readInline = true;
        return true;
    }

    public void OnRemoteFin()
    {
        bool ended;
        lock (gate)
        {
            if (finReceived || reset)
            {
                return;
            }

            finReceived = true;
            ended = finSent;
        }

        if (ended)
        {
            Finish(); // before the reader can observe the end, so StreamCount is already down by then
        }

        CompleteInbound();
    }

    public void OnRemoteReset()
    {
        lock (gate)
        {
            if (reset || (finSent && finReceived))
            {
                return;
            }

            reset = true;
            FailLocked("stream reset by the remote", isReset: true);
        }

        WakeAfterFailure();
        Finish();
    }

    /// <exception cref="YamuxProtocolException">The update would grow the send window past 2^32-1 bytes: no receive
    /// window (a 32-bit quantity on the wire) can be that large.</exception>
    public void AddSendWindow(uint delta)
    {
        lock (gate)
        {
            if (sendWindow + delta > uint.MaxValue)
            {
                throw new YamuxProtocolException(
                    $"window update of {delta} bytes on stream {StreamId} would grow its send window of {sendWindow} past 2^32-1");
            }

            sendWindow += delta;
            WakeSenderLocked();
        }
    }

    public void OnSessionEnded(Exception reason)
    {
        CancellationTokenSource? timer;
        long memory;
        lock (gate)
        {
            removed = true;
            timer = closeTimer;
            closeTimer = null;
            sessionReason = reason;
            memory = reservedMemory;
            reservedMemory = 0;
            if (!reset)
            {
                readFailure ??= finReceived ? null : "yamux session ended: " + reason.Message;
                writeFailure ??= finSent ? null : "yamux session ended: " + reason.Message;
            }

            WakeSenderLocked();
        }

        timer?.Dispose();
        ReleaseMemory(memory);
        inbound.Reader.CancelPendingRead();
    }

    private void ReleaseMemory(long bytes)
    {
        if (bytes > 0)
        {
            Session.Memory?.ReleaseMemory(bytes);
        }
    }

    private void CompleteInbound()
    {
        lock (gate)
        {
            if (inboundCompleted)
            {
                return;
            }

            inboundCompleted = true;
        }

        inbound.Writer.Complete();
    }

    // ---- Local reader ----

    public void OnConsumed(long bytes)
    {
        uint update;
        lock (gate)
        {
            recvUnread -= bytes;
            update = TakeWindowUpdateLocked();
        }

        SendWindowUpdate(update);
    }

    public void OnReaderCompleted()
    {
        uint update;
        lock (gate)
        {
            readerCompleted = true;
            recvUnread = 0;
            update = TakeWindowUpdateLocked();
        }

        SendWindowUpdate(update);
    }

    public bool HasReadFailure => Volatile.Read(ref readFailure) is not null;

    public void ThrowIfReadFailed()
    {
        lock (gate)
        {
            if (readFailure is not null)
            {
                throw CreateFailure(readFailure);
            }
        }
    }

    /// <summary>Grants the remote more window once at least half of it is free, growing the window (up to the
    /// maximum) when a whole window was consumed within a few round trips, as go-yamux does.</summary>
    private uint TakeWindowUpdateLocked()
    {
        if (finReceived || reset || removed)
        {
            return 0;
        }

        long delta = recvWindow - recvCredit - recvPending - recvUnread;
        if (delta < recvWindow / 2)
        {
            return 0;
        }

        long now = Session.Options.Clock.GetTimestamp();
        long rtt = Session.RoundTripTicks;
        long max = Session.Options.MaxStreamWindowSize;
        if (rtt > 0 && recvWindow < max && now - epochStart < rtt * 4)
        {
            // Growth is optional: at half priority it stops once the scopes above are half full.
            long grown = Math.Min(recvWindow * 2, max);
            if (Session.Memory is null || Session.Memory.TryReserveMemory(grown - recvWindow, priority: 128))
            {
                if (Session.Memory is not null)
                {
                    reservedMemory += grown - recvWindow;
                }

                recvWindow = grown;
                delta = recvWindow - recvCredit - recvPending - recvUnread;
            }
        }

        epochStart = now;
        recvCredit += delta;
        return (uint)delta;
    }

    private void SendWindowUpdate(uint delta)
    {
        if (delta > 0)
        {
            Session.EnqueueControl(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.None, StreamId, delta));
        }
    }

    // ---- Local writer ----

    /// <summary>Takes up to <paramref name="wanted"/> bytes of send window, waiting while it is 0. Returns -1 when
    /// the pending flush was cancelled through <see cref="PipeWriter.CancelPendingFlush"/>.</summary>
    public async ValueTask<int> AcquireSendWindowAsync(int wanted, CancellationToken cancellationToken)
    {
        while (true)
        {
            lock (gate)
            {
                if (writeFailure is not null)
                {
                    throw CreateFailure(writeFailure);
                }

                if (flushCancelRequested)
                {
                    flushCancelRequested = false;
                    return -1;
                }

                if (sendWindow > 0)
                {
                    int granted = (int)Math.Min(sendWindow, wanted);
                    sendWindow -= granted;
                    return granted;
                }

                sendWaiting = true;
            }

            await sendSignal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Receive window the remote may still use, and data it sent that the read loop has not delivered yet
    /// (for tests: both 0 once the remote's writer has used all its credit and it all arrived).</summary>
    internal (long Credit, long Pending) ReceiveCredit
    {
        get
        {
            lock (gate)
            {
                return (recvCredit, recvPending);
            }
        }
    }

    /// <summary>Whether a flush waits for send window (for tests).</summary>
    internal bool IsWaitingForSendWindow
    {
        get
        {
            lock (gate)
            {
                return sendWaiting;
            }
        }
    }

    public void ReturnSendWindow(int bytes)
    {
        lock (gate)
        {
            sendWindow += bytes;
        }
    }

    public void CancelPendingFlush()
    {
        lock (gate)
        {
            flushCancelRequested = true;
            WakeSenderLocked();
        }
    }

    public void ThrowIfWriteFailed()
    {
        lock (gate)
        {
            if (writeFailure is not null)
            {
                throw CreateFailure(writeFailure);
            }
        }
    }

    /// <summary>As <see cref="ThrowIfWriteFailed"/>, without the lock while the stream is fine (a volatile read):
    /// for the session's check of every data write.</summary>
    public void ThrowIfWriteFailedUnlocked()
    {
        if (Volatile.Read(ref writeFailure) is not null)
        {
            ThrowIfWriteFailed();
        }
    }

    /// <summary>Half-closes: FIN goes out after every data frame already written.</summary>
    public void SendFin()
    {
        bool ended;
        lock (gate)
        {
            if (finSent || reset || removed)
            {
                return;
            }

            finSent = true;
            ended = finReceived;
        }

        Session.EnqueueControl(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, StreamId, 0));
        if (ended)
        {
            Finish();
        }
    }

    /// <summary>Keeps the close that a synchronous Complete() started, so dispose waits for it.</summary>
    public void TrackClose(Task close) => pendingClose = close;

    // ---- Lifecycle ----

    public void Reset()
    {
        bool wasLive;
        lock (gate)
        {
            if (reset || (finSent && finReceived))
            {
                return;
            }

            reset = true;
            wasLive = !removed;
            FailLocked("stream was reset locally", isReset: true);
        }

        WakeAfterFailure();
        if (wasLive)
        {
            Session.EnqueueControl(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, StreamId, 0));
            Finish();
        }
    }

    /// <summary>Drops a stream the remote never learned about (or that was refused) without sending anything.</summary>
    public void Abandon()
    {
        lock (gate)
        {
            reset = true;
            FailLocked("stream was refused", isReset: true);
        }

        WakeAfterFailure();
        Finish();
    }

    /// <summary>Closes gracefully: our buffered bytes and FIN go out, and the remote has
    /// <see cref="YamuxOptions.StreamCloseTimeout"/> (from now) to take them and close its half; past it the stream
    /// is reset, as go-yamux does. The timer ends with the stream.</summary>
    public async ValueTask DisposeAsync()
    {
        var deadline = ArmCloseTimer();
        try
        {
            await writer.CloseAsync(deadline).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            Log.StreamCloseFailed(Session.Logger, Id, ex);
        }

        await reader.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Starts the close timer unless the stream already ended; returns its token (cancelled when it fires).</summary>
    private CancellationToken ArmCloseTimer()
    {
        lock (gate)
        {
            if (reset || removed)
            {
                return CancellationToken.None;
            }

            if (closeTimer is null)
            {
                var timer = new CancellationTokenSource();
                timer.Token.UnsafeRegister(static state => ((YamuxStream)state!).ResetAfterCloseTimeout(), this);
                timer.CancelAfter(Session.Options.StreamCloseTimeout); // fires on a timer thread, never inline
                closeTimer = timer;
            }

            return closeTimer.Token;
        }
    }

    /// <summary>Runs on a timer thread: must not throw.</summary>
    private void ResetAfterCloseTimeout()
    {
        try
        {
            Log.StreamCloseTimedOut(Session.Logger, Id, Session.Options.StreamCloseTimeout);
            Reset();
        }
        catch (Exception ex)
        {
            Log.InternalError(Session.Logger, ex);
        }
    }

    /// <summary>Whether a close timer is armed (for tests: none may outlive the stream).</summary>
    internal bool HasCloseTimer
    {
        get
        {
            lock (gate)
            {
                return closeTimer is not null;
            }
        }
    }

    /// <summary>The close a synchronous <see cref="PipeWriter.Complete"/> started, if any.</summary>
    internal Task? PendingClose => pendingClose;

    private void Finish()
    {
        CancellationTokenSource? timer;
        long memory;
        lock (gate)
        {
            if (removed)
            {
                return;
            }

            removed = true;
            timer = closeTimer;
            closeTimer = null;
            memory = reservedMemory;
            reservedMemory = 0;
        }

        timer?.Dispose();
        ReleaseMemory(memory);
        Session.RemoveStream(this);
    }

    private void FailLocked(string message, bool isReset)
    {
        failureIsReset = isReset;
        readFailure = message;
        writeFailure = message;
        WakeSenderLocked();
    }

    private void WakeAfterFailure() => inbound.Reader.CancelPendingRead();

    private void WakeSenderLocked()
    {
        if (sendWaiting)
        {
            sendWaiting = false;
            sendSignal.Release();
        }
    }

    private IOException CreateFailure(string message) => failureIsReset
        ? new StreamResetException(message)
        : new MuxerClosedException(message, sessionReason);
}
