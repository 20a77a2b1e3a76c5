using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace P2PStack.Muxers.Yamux;

/// <summary>The stream's output. Bytes gather in a pooled buffer until flushed; a flush waits for send window and
/// writes data frames straight into the connection. <see cref="WriteAsync"/> with nothing buffered sends directly
/// from the caller's memory. Completing sends FIN; completing with an error resets the stream.</summary>
internal sealed class YamuxStreamWriter(YamuxStream stream) : PipeWriter
{
    private const int MinimumBufferSize = 4096;
    private byte[]? buffer;
    private int flushed;
    private int buffered;
    private bool completed;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => buffered - flushed;

    public override void Advance(int bytes)
    {
        if (bytes < 0 || buffer is null || bytes > buffer.Length - buffered)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), "advanced past the memory handed out");
        }

        buffered += bytes;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureCapacity(sizeHint);
        return buffer.AsMemory(buffered);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureCapacity(sizeHint);
        return buffer.AsSpan(buffered);
    }

    public override void CancelPendingFlush() => stream.CancelPendingFlush();

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (completed)
        {
            throw new InvalidOperationException("the stream's output was completed");
        }

        if (buffered == flushed)
        {
            stream.ThrowIfWriteFailed();
            return default;
        }

        return FlushBufferedAsync(cancellationToken);
    }

    public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        if (completed)
        {
            throw new InvalidOperationException("the stream's output was completed");
        }

        if (buffered != flushed)
        {
            this.Write(source.Span);
            return FlushBufferedAsync(cancellationToken);
        }

        return source.IsEmpty ? default : SendAsync(source, cancellationToken);
    }

    public override void Complete(Exception? exception = null)
    {
        if (completed)
        {
            return;
        }

        completed = true;
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
        if (completed)
        {
            return;
        }

        if (exception is not null || buffered == flushed)
        {
            Complete(exception);
            return;
        }

        completed = true;
        try
        {
            await FlushBufferedAsync(CancellationToken.None).ConfigureAwait(false);
            stream.SendFin();
        }
        finally
        {
            ReturnBuffer();
        }
    }

    /// <summary>Dispose's close: flushes what is buffered and sends FIN, or waits for the close a synchronous
    /// <see cref="Complete"/> started; gives up when <paramref name="cancellationToken"/> fires.</summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        if (completed)
        {
            if (stream.PendingClose is { } close)
            {
                await close.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        completed = true;
        try
        {
            if (buffered != flushed)
            {
                await FlushBufferedAsync(cancellationToken).ConfigureAwait(false);
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
            await FlushBufferedAsync(CancellationToken.None).ConfigureAwait(false);
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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> FlushBufferedAsync(CancellationToken cancellationToken)
    {
        while (flushed < buffered)
        {
            int granted = await stream.AcquireSendWindowAsync(buffered - flushed, cancellationToken).ConfigureAwait(false);
            if (granted < 0)
            {
                return new FlushResult(isCanceled: true, isCompleted: false);
            }

            if (!await stream.Session.WriteDataAsync(stream.StreamId, buffer.AsMemory(flushed, granted), cancellationToken)
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

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> SendAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        while (!source.IsEmpty)
        {
            int granted = await stream.AcquireSendWindowAsync(source.Length, cancellationToken).ConfigureAwait(false);
            if (granted < 0)
            {
                return new FlushResult(isCanceled: true, isCompleted: false);
            }

            if (!await stream.Session.WriteDataAsync(stream.StreamId, source[..granted], cancellationToken).ConfigureAwait(false))
            {
                stream.ReturnSendWindow(granted);
                throw new OperationCanceledException(cancellationToken);
            }

            source = source[granted..];
        }

        return default;
    }

    private void EnsureCapacity(int sizeHint)
    {
        if (completed)
        {
            throw new InvalidOperationException("the stream's output was completed");
        }

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
            int size = Math.Max(Math.Max(MinimumBufferSize, pending + needed), (buffer?.Length ?? 0) * 2);
            var larger = ArrayPool<byte>.Shared.Rent(size);
            buffer?.AsSpan(flushed, pending).CopyTo(larger);
            ReturnBuffer();
            buffer = larger;
        }

        flushed = 0;
        buffered = pending;
    }

    private void ReturnBuffer()
    {
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = null;
        }
    }
}
