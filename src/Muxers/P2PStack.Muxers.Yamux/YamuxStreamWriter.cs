using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>The stream's output. Bytes gather in a pooled buffer until flushed; a flush waits for send window and
/// writes data frames straight into the connection. <see cref="WriteAsync"/> with nothing buffered sends directly
/// from the caller's memory. Completing sends FIN; completing with an error resets the stream.
/// The buffer's capacity beyond its first <see cref="MinimumBufferSize"/> bytes is reserved in the session's resource
/// scope when the buffer grows (not per write or frame) and released when it goes back to the pool: an app that writes
/// without flushing, or a peer that grants no window while closes wait to flush, cannot make the node hold send
/// buffers beyond the limits. The first 4 KiB are part of a stream's fixed cost, bounded by the stream limits as its
/// other objects are (reserving them would make every stream that ever wrote hold a reservation for its life).</summary>
internal sealed class YamuxStreamWriter(YamuxStream stream) : PipeWriter
{
    internal const int MinimumBufferSize = 4096;

    // state bits. Held: the writer is using the buffer (GetSpan..Advance, or a flush/write in flight); only the
    // writer sets and clears it. Closing: a close began; only a close sets it. Whoever leaves the state Closing
    // without Held owns the buffer and returns it to the pool, so it is never returned while the writer uses it.
    private const int Held = 1;
    private const int Closing = 2;

    private byte[]? buffer;
    private long reserved; // of the buffer's capacity, in the session's scope; owned with the buffer
    private bool flushing; // writer-only: a flush or send of the writer's is in flight (Held for that reason)
    private int flushed;
    private int buffered;
    private int state;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => buffered - flushed;

    public override void Advance(int bytes)
    {
        Acquire();
        if (bytes < 0 || buffer is null || bytes > buffer.Length - buffered)
        {
            Release();
            throw new ArgumentOutOfRangeException(nameof(bytes), "advanced past the memory handed out");
        }

        buffered += bytes;
        if (Release())
        {
            throw Closed(); // closed while the bytes were being written: they are dropped with the reset stream
        }
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        Acquire();
        EnsureCapacity(sizeHint);
        return buffer.AsMemory(buffered);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        Acquire();
        EnsureCapacity(sizeHint);
        return buffer.AsSpan(buffered);
    }

    public override void CancelPendingFlush() => stream.CancelPendingFlush();

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Acquire();
        if (buffered == flushed)
        {
            try
            {
                stream.ThrowIfWriteFailed();
                return default;
            }
            finally
            {
                Release();
            }
        }

        flushing = true;
        return FlushBufferedAsync(cancellationToken, held: true);
    }

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        Acquire();
        if (buffered != flushed)
        {
            EnsureCapacity(source.Length);
            source.Span.CopyTo(buffer.AsSpan(buffered));
            buffered += source.Length;
            flushing = true;
            return FlushBufferedAsync(cancellationToken, held: true);
        }

        if (source.IsEmpty)
        {
            Release();
            return default;
        }

        flushing = true;
        return SendAsync(source, cancellationToken);
    }

    public override void Complete(Exception? exception = null)
    {
        AbandonSpan();
        if (!BeginClose())
        {
            return;
        }

        if (exception is not null)
        {
            ReturnBuffer();
            stream.Reset();
        }
        else if (buffered != flushed)
        {
            stream.TrackClose(FlushThenFinAsync());
        }
        else
        {
            ReturnBuffer();
            stream.SendFin();
        }
    }

    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        AbandonSpan();
        if (exception is not null)
        {
            Complete(exception);
        }
        else if (BeginClose())
        {
            await FlushAndFinAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Dispose's close: flushes what is buffered and sends FIN, or waits for the close a synchronous
    /// <see cref="Complete"/> started; gives up when <paramref name="cancellationToken"/> fires.</summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        if (BeginClose())
        {
            await FlushAndFinAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (stream.PendingClose is { } close)
        {
            await close.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Starts the close once; true when the caller now owns the buffer and closes gracefully. A close that
    /// finds the writer using the buffer (another task disposing the stream mid-write) resets the stream instead,
    /// which fails the writer's flush; the writer returns the buffer when it lets go of it.</summary>
    private bool BeginClose()
    {
        int previous = Interlocked.Or(ref state, Closing);
        if ((previous & Closing) != 0)
        {
            return false;
        }

        if ((previous & Held) != 0)
        {
            stream.Reset();
            return false;
        }

        return true;
    }

    /// <summary>Complete is the writer's own call (the PipeWriter contract): memory it asked for and did not advance
    /// (CopyToAsync's last GetMemory at the end of its source) is abandoned, so the close is graceful (FIN) and the
    /// buffer goes back to the pool. A flush still in flight keeps the buffer held: the close then resets.</summary>
    private void AbandonSpan()
    {
        if (!flushing)
        {
            Interlocked.And(ref state, ~Held);
        }
    }

    /// <summary>The writer takes the buffer; throws <see cref="ObjectDisposedException"/> once a close began.
    /// One interlocked op (none when the writer already holds it).</summary>
    private void Acquire()
    {
        int current = Volatile.Read(ref state);
        if (current == Held)
        {
            return;
        }

        if (current == 0)
        {
            current = Interlocked.CompareExchange(ref state, Held, 0);
            if (current == 0)
            {
                return;
            }
        }

        if ((current & Held) != 0)
        {
            Release(); // closed while held: the close left the buffer to us
        }

        throw Closed();
    }

    /// <summary>The writer lets go of the buffer; returns it to the pool (and answers true) when a close came
    /// meanwhile.</summary>
    private bool Release()
    {
        if ((Interlocked.And(ref state, ~Held) & Closing) == 0)
        {
            return false;
        }

        ReturnBuffer();
        return true;
    }

    private ObjectDisposedException Closed() => new(nameof(YamuxStream), "the stream's output was closed");

    private async ValueTask FlushAndFinAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (buffered != flushed)
            {
                await FlushBufferedAsync(cancellationToken, held: false).ConfigureAwait(false);
            }

            stream.SendFin();
        }
        finally
        {
            ReturnBuffer();
        }
    }

    /// <summary>Runs unobserved unless the stream is disposed: reports failure by resetting, never by throwing.</summary>
    private async Task FlushThenFinAsync()
    {
        try
        {
            await FlushBufferedAsync(CancellationToken.None, held: false).ConfigureAwait(false);
            stream.SendFin();
        }
        catch (Exception ex)
        {
            Log.StreamCloseFailed(stream.Session.Logger, stream.Id, ex);
            stream.Reset();
        }
        finally
        {
            ReturnBuffer();
        }
    }

    /// <summary>Sends what is buffered. <paramref name="held"/>: the writer's own flush, which lets go of the buffer
    /// when it ends (in the same state machine: none more per flush).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> FlushBufferedAsync(CancellationToken cancellationToken, bool held)
    {
        try
        {
            while (flushed < buffered)
            {
                int granted = await stream.AcquireSendWindowAsync(buffered - flushed, cancellationToken).ConfigureAwait(false);
                if (granted < 0)
                {
                    return new FlushResult(isCanceled: true, isCompleted: false);
                }

                if (!await stream.Session.WriteDataAsync(stream, buffer.AsMemory(flushed, granted), cancellationToken)
                        .ConfigureAwait(false))
                {
                    stream.ReturnSendWindow(granted);
                    throw new OperationCanceledException(cancellationToken);
                }

                flushed += granted;
            }

            flushed = buffered = 0;
            return default;
        }
        finally
        {
            if (held)
            {
                flushing = false;
                Release();
            }
        }
    }

    /// <summary>Sends straight from the caller's memory; the writer holds the buffer until it ends (no FIN goes out
    /// between our data frames) and lets go in the same state machine.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> SendAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        try
        {
            while (!source.IsEmpty)
            {
                int granted = await stream.AcquireSendWindowAsync(source.Length, cancellationToken).ConfigureAwait(false);
                if (granted < 0)
                {
                    return new FlushResult(isCanceled: true, isCompleted: false);
                }

                if (!await stream.Session.WriteDataAsync(stream, source[..granted], cancellationToken).ConfigureAwait(false))
                {
                    stream.ReturnSendWindow(granted);
                    throw new OperationCanceledException(cancellationToken);
                }

                source = source[granted..];
            }

            return default;
        }
        finally
        {
            flushing = false;
            Release();
        }
    }

    /// <summary>Only while the buffer is ours: held by the writer.</summary>
    private void EnsureCapacity(int sizeHint)
    {
        int needed = Math.Max(sizeHint, 1);
        if (buffer is not null && buffer.Length - buffered >= needed)
        {
            return;
        }

        int pending = buffered - flushed;
        if (buffer is not null && flushed > 0 && buffer.Length - pending >= needed)
        {
            buffer.AsSpan(flushed, pending).CopyTo(buffer); // reuse the space already sent
        }
        else
        {
            Grow(pending, needed);
        }

        flushed = 0;
        buffered = pending;
    }

    /// <summary>Moves the pending bytes to a larger pooled buffer whose capacity (beyond the first
    /// <see cref="MinimumBufferSize"/>) the session's scope granted. A refusal leaves the buffer as it was, lets go of it
    /// (the writer's call fails) and throws the scope's refusal naming the stream's send buffer.</summary>
    private void Grow(int pending, int needed)
    {
        var pool = stream.Session.Options.WriteBufferPool;
        int size = Math.Max(Math.Max(MinimumBufferSize, pending + needed), (buffer?.Length ?? 0) * 2);
        var larger = pool.Rent(size);
        long more = Math.Max(0, larger.Length - MinimumBufferSize) - reserved;
        if (more > 0 && stream.Session.Memory is { } scope)
        {
            try
            {
                scope.ReserveMemory(more);
            }
            catch (ResourceLimitExceededException ex)
            {
                pool.Return(larger);
                Release();
                throw SendBufferRefused(ex, more);
            }

            reserved += more;
        }

        buffer?.AsSpan(flushed, pending).CopyTo(larger);
        if (buffer is not null)
        {
            pool.Return(buffer);
        }

        buffer = larger;
    }

    private ResourceLimitExceededException SendBufferRefused(ResourceLimitExceededException refusal, long requested)
    {
        string resource = $"{refusal.Resource} for the send buffer of yamux stream {stream.StreamId}";
        return refusal.Used is { } used
            ? new ResourceLimitExceededException(refusal.Scope, resource, used, refusal.Requested ?? requested, refusal.Limit)
            : new ResourceLimitExceededException(refusal.Scope, resource, refusal.Limit);
    }

    private void ReturnBuffer()
    {
        if (buffer is not null)
        {
            stream.Session.Options.WriteBufferPool.Return(buffer);
            buffer = null;
        }

        if (reserved > 0)
        {
            stream.Session.Memory?.ReleaseMemory(reserved);
            reserved = 0;
        }
    }
}
