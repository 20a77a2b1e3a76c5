using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace P2PStack.Muxers.Yamux;

/// <summary>The stream's input: the per-stream pipe's reader, plus consumption tracking (which drives window
/// updates) and reset / session-end errors.</summary>
internal sealed class YamuxStreamReader(YamuxStream stream, PipeReader inner) : PipeReader
{
    private ReadOnlySequence<byte> lastBuffer;
    private bool completed;

    // The consumer's CancelPendingRead not yet seen by a read: a cancelled result is then the consumer's, even if a
    // reset (which wakes the reader with a cancellation of its own) arrived meanwhile.
    private int consumerCancelled;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        // A cancellation the consumer asked for comes first (the pipe returns it at once); the failure, with the next read.
        if (Volatile.Read(ref consumerCancelled) == 0) stream.ThrowIfReadFailed();
        var pending = inner.ReadAsync(cancellationToken);
        return pending.IsCompletedSuccessfully ? new ValueTask<ReadResult>(OnRead(pending.Result)) : AwaitRead(pending);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (Volatile.Read(ref consumerCancelled) == 0) stream.ThrowIfReadFailed();
        if (!inner.TryRead(out result))
        {
            return false;
        }

        result = OnRead(result);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        // After Complete (the stream disposed by another part, e.g. an onion circuit's end while its loop still held a
        // read's buffer) the call fails as a Pipe's reader does, with an InvalidOperationException; measuring against
        // the buffer that Complete dropped threw an ArgumentOutOfRangeException, which callers read as a bug.
        var last = lastBuffer;
        lastBuffer = default;
        if (Volatile.Read(ref completed))
        {
            ThrowCompleted();
        }

        long bytes;
        try
        {
            bytes = last.Slice(last.Start, consumed).Length;
        }
        catch (ArgumentOutOfRangeException) when (Volatile.Read(ref completed))
        {
            // Completed on another thread during the measure (its segments went back to the pool).
            ThrowCompleted();
            throw;
        }

        inner.AdvanceTo(consumed, examined);
        if (bytes > 0)
        {
            stream.OnConsumed(bytes);
        }
    }

    public override void CancelPendingRead()
    {
        Volatile.Write(ref consumerCancelled, 1);
        inner.CancelPendingRead();
    }

    public override void Complete(Exception? exception = null)
    {
        if (completed)
        {
            return;
        }

        Volatile.Write(ref completed, true);
        lastBuffer = default;
        inner.Complete(exception);
        stream.OnReaderCompleted();
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowCompleted() =>
        throw new InvalidOperationException("the stream's input was completed: no AdvanceTo after Complete");

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitRead(ValueTask<ReadResult> pending) =>
        OnRead(await pending.ConfigureAwait(false));

    private ReadResult OnRead(ReadResult result)
    {
        // A cancelled read is the wake-up of a reset or of the session's end (which then fails the read), unless the
        // consumer cancelled it: then it ends as the cancelled read it asked for, even if a reset arrived meanwhile
        // (the next read fails with it). A close that cancels its pending read and then ends the link (an onion
        // relay's circuit end) thus throws nothing when the neighbour's reset crosses it, and a read completed by this
        // side meanwhile takes no AdvanceTo on its completed pipe.
        if (result.IsCanceled && Interlocked.Exchange(ref consumerCancelled, 0) == 0 && stream.HasReadFailure
            && !Volatile.Read(ref completed))
        {
            inner.AdvanceTo(result.Buffer.Start);
            stream.ThrowIfReadFailed();
        }

        lastBuffer = result.Buffer;
        return result;
    }
}
