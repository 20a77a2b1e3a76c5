using System.Buffers;
using System.Runtime.CompilerServices;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>Writing: data frames under the write lock, control frames through the writer loop, closing the output.</summary>
public sealed partial class YamuxSession
{
    /// <summary>Control frames queued but not yet written (for tests of the bound).</summary>
    internal int PendingControlFrames => Volatile.Read(ref pendingControl);

    /// <summary>Whether the read loop has stopped reading until queued control frames drain (for tests).</summary>
    internal bool IsWaitingForControlDrain => Volatile.Read(ref readLoopWaitingForDrain) == 1;

    /// <summary>Queues a control frame for the writer loop. Never blocks; frames queued after the session ended
    /// are dropped (the connection is gone).</summary>
    internal void EnqueueControl(in YamuxFrameHeader frame)
    {
        if (control.Writer.TryWrite(frame))
        {
            Interlocked.Increment(ref pendingControl);
        }
    }

    private void SendGoAwayOnce(GoAwayCode code)
    {
        lock (streamsGate)
        {
            if (goAwaySent)
            {
                return;
            }

            goAwaySent = true;
        }

        EnqueueControl(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)code));
    }

    /// <summary>Writes data frames (at most <see cref="YamuxOptions.MaxMessageSize"/> each) for bytes the caller
    /// already took from the stream's send window. Returns false if cancelled before anything was written. A stream
    /// reset (either side) or ended while the caller waited for the write lock fails with its typed exception and
    /// sends nothing: no data frame follows the stream's RST.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    internal async ValueTask<bool> WriteDataAsync(YamuxStream stream, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            await writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }

        try
        {
            ThrowIfOutputClosing();
            stream.ThrowIfWriteFailedUnlocked(); // a local RST is queued behind this lock, a remote one already came
            uint streamId = stream.StreamId;
            var output = connection.Output;
            int max = Options.MaxMessageSize;
            while (!data.IsEmpty)
            {
                int length = Math.Min(data.Length, max);
                WriteHeader(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFlags.None, streamId, (uint)length));
                output.WriteDirect(data.Span[..length]); // a Noise output seals whole messages from the data, uncopied
                data = data[length..];
            }

            try
            {
                CheckFlush(await output.FlushAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException)
            {
                // The frames are committed to the connection and will go out: report them as sent, or a later
                // flush would send them a second time. The caller sees its cancellation on its next wait.
            }

            return true;
        }
        finally
        {
            writeLock.Release();
        }
    }

    /// <summary>Writes one frame directly (used where it must precede the caller's data, e.g. SYN).</summary>
    private async ValueTask WriteFrameAsync(YamuxFrameHeader frame, Action onWritten, CancellationToken cancellationToken, bool flush = true)
    {
        await writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfOutputClosing();
            WriteHeader(frame);
            onWritten();
            if (flush) CheckFlush(await connection.Output.FlushAsync(cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            writeLock.Release();
        }
    }

    private void WriteHeader(in YamuxFrameHeader frame)
    {
        var output = connection.Output;
        YamuxFrameCodec.Write(output.GetSpan(YamuxFrameCodec.HeaderLength), frame);
        output.Advance(YamuxFrameCodec.HeaderLength);
    }

    private void ThrowIfOutputClosing()
    {
        if (outputClosing)
        {
            throw new MuxerClosedException("yamux session has ended", endReason);
        }
    }

    private void CheckFlush(System.IO.Pipelines.FlushResult result)
    {
        if (result.IsCanceled || outputClosing)
        {
            throw new MuxerClosedException("yamux session has ended", endReason);
        }

        if (result.IsCompleted)
        {
            var reason = new MuxerClosedException("yamux connection closed by the remote");
            _ = BeginShutdown(reason, null);
            throw reason;
        }
    }

    private async Task WriteLoopAsync()
    {
        var reader = control.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                await writeLock.WaitAsync().ConfigureAwait(false);
                try
                {
                    if (outputClosing)
                    {
                        return;
                    }

                    int written = 0;
                    while (reader.TryRead(out var frame))
                    {
                        WriteHeader(frame);
                        written++;
                    }

                    Interlocked.Add(ref pendingControl, -written);
                    var result = await connection.Output.FlushAsync().ConfigureAwait(false);
                    if (result.IsCanceled || outputClosing)
                    {
                        return;
                    }

                    if (result.IsCompleted)
                    {
                        _ = BeginShutdown(new MuxerClosedException("yamux connection closed by the remote"), null);
                        return;
                    }
                }
                finally
                {
                    writeLock.Release();
                }

                if (Interlocked.Exchange(ref readLoopWaitingForDrain, 0) == 1)
                {
                    controlDrained.Release();
                }
            }
        }
        catch (Exception ex)
        {
            _ = BeginShutdown(new MuxerClosedException("yamux connection write failed", ex), null);
        }
    }

    /// <summary>Backpressure for the read loop: while too many control frames wait for the connection, stop
    /// reading from the remote (a peer that never reads cannot make us queue without bound).</summary>
    private async ValueTask WaitForControlDrainAsync()
    {
        while (Volatile.Read(ref pendingControl) > Options.MaxPendingControlFrames)
        {
            Volatile.Write(ref readLoopWaitingForDrain, 1);
            if (Volatile.Read(ref pendingControl) <= Options.MaxPendingControlFrames)
            {
                Volatile.Write(ref readLoopWaitingForDrain, 0);
                return;
            }

            await controlDrained.WaitAsync(lifetime.Token).ConfigureAwait(false);
        }
    }

    /// <summary>Completes the connection's output once no writer holds it; a writer stuck on a peer that does not
    /// read is cancelled after <see cref="YamuxOptions.CloseTimeout"/>.</summary>
    private async ValueTask CloseOutputAsync()
    {
        outputClosing = true;
        if (!await writeLock.WaitAsync(Options.CloseTimeout).ConfigureAwait(false))
        {
            connection.Output.CancelPendingFlush();
            await writeLock.WaitAsync().ConfigureAwait(false);
        }

        try
        {
            await connection.Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.SessionEnded(logger, $"completing the connection output failed: {ex.Message}");
        }
        finally
        {
            writeLock.Release();
        }
    }
}
