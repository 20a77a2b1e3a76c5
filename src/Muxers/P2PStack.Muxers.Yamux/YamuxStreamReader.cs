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

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        stream.ThrowIfReadFailed();
        var pending = inner.ReadAsync(cancellationToken);
        return pending.IsCompletedSuccessfully ? new ValueTask<ReadResult>(OnRead(pending.Result)) : AwaitRead(pending);
    }

    public override bool TryRead(out ReadResult result)
    {
        stream.ThrowIfReadFailed();
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
        long bytes = lastBuffer.Slice(lastBuffer.Start, consumed).Length;
        lastBuffer = default;
        inner.AdvanceTo(consumed, examined);
        if (bytes > 0)
        {
            stream.OnConsumed(bytes);
        }
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> AwaitRead(ValueTask<ReadResult> pending) =>
        OnRead(await pending.ConfigureAwait(false));

    private ReadResult OnRead(ReadResult result)
    {
        // A read cancelled and then completed by this side (a close that cancels the pending read, then disposes the
        // stream) ends as the cancelled read it is, even if a reset arrived meanwhile: the completed pipe takes no
        // AdvanceTo, and the consumer asked to stop reading, so the remote's failure is no longer its concern.
        if (result.IsCanceled && stream.HasReadFailure && !Volatile.Read(ref completed))
        {
            inner.AdvanceTo(result.Buffer.Start);
            stream.ThrowIfReadFailed();
        }

        lastBuffer = result.Buffer;
        return result;
    }
}
