using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using P2PStack.Network;

namespace P2PStack.Privacy.Onion.Wire;

/// <summary>
/// One circuit link: a libp2p stream carrying whole cells of one size in both directions. Writers take the link's lock,
/// write cells straight into the stream's pipe (no copy, no allocation) and flush once per batch; one reader reads
/// cells into the caller's buffer. A stream's pipe completed by <see cref="CloseAsync"/> (which marks the link closed
/// first) refuses calls with an <see cref="InvalidOperationException"/>; the link turns exactly those into a
/// <see cref="LinkClosedException"/> (an <see cref="IOException"/>), so that callers read "link gone" only from I/O
/// errors and never from an <see cref="InvalidOperationException"/> of an open link or of anything else (a bug, which
/// ends a circuit as <c>internal</c>). A neighbour that leaves shows as the end of the input or an I/O error.
/// </summary>
internal sealed class CellLink
{
    private readonly SemaphoreSlim _write = new(1, 1);
    private int _closed;

    private int _unflushed;

    /// <param name="cellsPerFlush">Cells written before a flush is due: at most what one muxer frame holds, so that the
    /// muxer never splits a cell across frames (yamux frames carry up to 64 KiB).</param>
    public CellLink(IStream stream, CellLayout layout, int cellsPerFlush = 0)
    {
        Stream = stream;
        Layout = layout;
        CellsPerFlush = cellsPerFlush > 0 ? cellsPerFlush : Math.Max(1, 65536 / layout.CellSize);
    }

    public int CellsPerFlush { get; }

    /// <summary>Whether a writer should flush before adding cells (a whole muxer frame is pending).</summary>
    public bool FlushDue => _unflushed >= CellsPerFlush;

    public IStream Stream { get; }

    public CellLayout Layout { get; }

    public PipeReader Input => Stream.Input;

    /// <summary>Reads from the link (<see cref="PipeReader.ReadAsync"/>).</summary>
    /// <exception cref="LinkClosedException">The link's input was completed.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // one read per batch: no allocation
    public async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await Stream.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's input was completed", e);
        }
    }

    /// <summary>Consumes what <see cref="ReadAsync"/> returned up to <paramref name="consumed"/>, having looked at it up to
    /// <paramref name="examined"/>.</summary>
    public void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        try
        {
            Stream.Input.AdvanceTo(consumed, examined);
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's input was completed", e);
        }
    }

    public void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    /// <summary>Makes the pending (or the next) <see cref="ReadAsync"/> return at once with
    /// <see cref="ReadResult.IsCanceled"/>: how a circuit's end stops its readers without an exception.</summary>
    public void CancelPendingRead() => Stream.Input.CancelPendingRead();

    private long _cellsWritten;

    /// <summary>Cells written to this link (changed under the lock; cover traffic reads it to tell an idle interval).</summary>
    public long CellsWritten => Volatile.Read(ref _cellsWritten);

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    // The muxer's send buffer grows inside the connection's resource scope; a refusal there is the link's failure (an
    // IOException, as a closed link), not an internal error of the circuit.
    private static IOException OutOfMemory(ResourceLimitExceededException e) =>
        new($"the link's send buffer is at its resource limit: {e.Message}", e);

    public Task LockAsync(CancellationToken cancellationToken) => _write.WaitAsync(cancellationToken);

    public void Unlock() => _write.Release();

    /// <summary>The next cell's bytes in the stream's pipe; fill them and <see cref="Commit"/> (under the lock).</summary>
    public Span<byte> Begin()
    {
        try
        {
            return Stream.Output.GetSpan(Layout.CellSize)[..Layout.CellSize];
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's output was completed", e);
        }
        catch (ResourceLimitExceededException e)
        {
            throw OutOfMemory(e);
        }
    }

    public void Commit()
    {
        try
        {
            Stream.Output.Advance(Layout.CellSize);
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's output was completed", e);
        }
        catch (ResourceLimitExceededException e)
        {
            throw OutOfMemory(e);
        }
        Volatile.Write(ref _cellsWritten, _cellsWritten + 1);
        _unflushed++;
    }

    /// <summary>Cells that may still be written before a flush is due (at least 1).</summary>
    public int CellsBeforeFlush => Math.Max(1, CellsPerFlush - _unflushed);

    /// <summary>Room for up to <paramref name="cells"/> cells in one piece of the stream's pipe (a whole number of cells,
    /// at least one): a batch of cells filled together and then committed with <see cref="Commit(int)"/> (under the
    /// lock), one request to the pipe for the batch instead of one per cell.</summary>
    public Span<byte> Begin(int cells)
    {
        int size = Layout.CellSize;
        try
        {
            var span = Stream.Output.GetSpan(cells * size);
            return span[..(Math.Min(cells, span.Length / size) * size)];
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's output was completed", e);
        }
        catch (ResourceLimitExceededException e)
        {
            throw OutOfMemory(e);
        }
    }

    /// <summary>Commits <paramref name="cells"/> cells filled in the span of <see cref="Begin(int)"/>.</summary>
    public void Commit(int cells)
    {
        try
        {
            Stream.Output.Advance(cells * Layout.CellSize);
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's output was completed", e);
        }
        catch (ResourceLimitExceededException e)
        {
            throw OutOfMemory(e);
        }
        Volatile.Write(ref _cellsWritten, _cellsWritten + cells);
        _unflushed += cells;
    }

    /// <exception cref="LinkClosedException">The link's output was completed.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // one flush per batch: no allocation
    public async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken)
    {
        _unflushed = 0;
        try
        {
            return await Stream.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's output was completed", e);
        }
        catch (ResourceLimitExceededException e)
        {
            throw OutOfMemory(e);
        }
    }

    /// <summary>Writes one control cell (DESTROY, PADDING) under the lock and flushes; errors of a link already gone
    /// are ignored.</summary>
    public async Task SendControlAsync(CellCommand command, DestroyReason reason, CancellationToken cancellationToken)
    {
        if (IsClosed) return;
        try
        {
            await LockAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                CellCodec.WriteControl(Begin(), command, reason);
                Commit();
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Unlock();
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The link is gone (a LinkClosedException is an IOException); the neighbour learns of the end from that.
        }
    }

    /// <summary>Reads the next whole cell into <paramref name="cell"/>; false at the end of the link.</summary>
    /// <exception cref="OnionFormatException">The link ended inside a cell.</exception>
    public async ValueTask<bool> ReadCellAsync(byte[] cell, CancellationToken cancellationToken)
    {
        ReadResult result;
        try
        {
            result = await Input.ReadAtLeastAsync(Layout.CellSize, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (IsClosed)
        {
            throw new LinkClosedException("the link's input was completed", e);
        }
        var buffer = result.Buffer;
        if (result.IsCanceled)
        {
            AdvanceTo(buffer.Start);
            throw new OperationCanceledException("the read was cancelled: the circuit is ending");
        }
        if (buffer.Length < Layout.CellSize)
        {
            AdvanceTo(buffer.End);
            if (buffer.Length > 0) throw new OnionFormatException($"the link ended inside a cell ({buffer.Length} of {Layout.CellSize} bytes)");
            return false;
        }
        buffer.Slice(0, Layout.CellSize).CopyTo(cell);
        AdvanceTo(buffer.GetPosition(Layout.CellSize));
        return true;
    }

    /// <summary>Ends the link: gracefully (what was flushed arrives) unless <paramref name="abort"/>. The stream is
    /// disposed under the write lock: its dispose hands the output's buffer back to the pool, and a writer still between
    /// <see cref="Begin"/> and <see cref="Commit"/> would then write into a buffer another user may hold and fail its
    /// commit (an <see cref="ArgumentOutOfRangeException"/> from the muxer, read as an internal error). A writer that
    /// keeps the lock past <paramref name="writerWait"/> (a flush the remote gives no window for) has its stream reset,
    /// which fails that flush, and is waited for as long again; only then is the stream disposed without the lock.</summary>
    public async Task CloseAsync(bool abort, TimeSpan writerWait)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        bool locked = false;
        try
        {
            if (abort) Stream.Reset();
            locked = await _write.WaitAsync(writerWait).ConfigureAwait(false);
            if (!locked)
            {
                Stream.Reset();
                locked = await _write.WaitAsync(writerWait).ConfigureAwait(false);
            }
            await Stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // Already torn down by the other side.
        }
        finally
        {
            if (locked) _write.Release();
        }
    }
}

/// <summary>A circuit link's pipe was completed (the link closed): the designed "link gone", read as
/// <c>link_closed</c>.</summary>
internal sealed class LinkClosedException(string message, Exception inner) : IOException(message, inner);

/// <summary>A flow-control window: a count of cells that may be sent, taken by senders and refilled by SENDMEs;
/// senders wait while it is empty.</summary>
/// <param name="resumeWaitersInline">Whether a sender waiting for the window resumes on the thread that refills it
/// (the SENDME's reader) instead of through the thread pool.</param>
internal sealed class FlowWindow(int initial, bool resumeWaitersInline = false)
{
    private readonly Lock _gate = new();
    private int _value = initial;
    private TaskCompletionSource? _waiter;

    public int Value
    {
        get { lock (_gate) return _value; }
    }

    /// <summary>Takes up to <paramref name="max"/> cells; returns how many.</summary>
    public int TryTake(int max)
    {
        lock (_gate)
        {
            int taken = Math.Min(max, _value);
            _value -= taken;
            return taken;
        }
    }

    public void Add(int cells)
    {
        TaskCompletionSource? waiter;
        lock (_gate)
        {
            _value += cells;
            waiter = _waiter;
            _waiter = null;
        }
        waiter?.TrySetResult();
    }

    /// <summary>Completes once the window is open (or at once if it is).</summary>
    public Task WaitOpenAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_value > 0) return Task.CompletedTask;
            _waiter ??= new TaskCompletionSource(resumeWaitersInline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
            return _waiter.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Releases waiters for good (the circuit ended): they see the window open and then find it closed.</summary>
    public void Fail()
    {
        TaskCompletionSource? waiter;
        lock (_gate)
        {
            waiter = _waiter;
            _waiter = null;
        }
        waiter?.TrySetException(new IOException("the circuit ended"));
    }
}

/// <summary>
/// The receiving side of a window: counts DATA cells as they arrive and bytes as they are taken by the consumer (the
/// destination stream or the application), and says when a SENDME is due: each increment of cells once every byte
/// they brought has been consumed. A sender that overruns the window is a protocol violation.
/// </summary>
/// <param name="synchronized">False when the owner calls it under a lock of its own (no second lock per cell).</param>
internal sealed class DeliveryWindow(int window, int increment, bool synchronized = true)
{
    private readonly Lock? _gate = synchronized ? new() : null;
    private readonly Queue<long> _boundaries = new();
    private long _received;
    private long _cells;
    private long _consumed;
    private int _outstanding;

    /// <summary>Records an arriving DATA cell of <paramref name="bytes"/> bytes; false when it overruns the window.</summary>
    public bool Received(int bytes) => Received(bytes, out _);

    /// <summary>Records an arriving DATA cell; <paramref name="completesIncrement"/>: it is the cell whose consumption
    /// will make a SENDME due (the cell whose tag an authenticated circuit SENDME carries).</summary>
    public bool Received(int bytes, out bool completesIncrement)
    {
        if (_gate is null) return ReceivedUnlocked(bytes, out completesIncrement);
        lock (_gate) return ReceivedUnlocked(bytes, out completesIncrement);
    }

    private bool ReceivedUnlocked(int bytes, out bool completesIncrement)
    {
        completesIncrement = false;
        if (_outstanding >= window) return false;
        _outstanding++;
        _cells++;
        _received += bytes;
        if (_cells % increment == 0)
        {
            _boundaries.Enqueue(_received);
            completesIncrement = true;
        }
        return true;
    }

    /// <summary>Records consumed bytes; returns the SENDMEs now due.</summary>
    public int Consumed(long bytes)
    {
        if (_gate is null) return ConsumedUnlocked(bytes);
        lock (_gate) return ConsumedUnlocked(bytes);
    }

    private int ConsumedUnlocked(long bytes)
    {
        _consumed += bytes;
        int due = 0;
        while (_boundaries.Count > 0 && _boundaries.Peek() <= _consumed)
        {
            _boundaries.Dequeue();
            _outstanding -= increment;
            due++;
        }
        return due;
    }
}
