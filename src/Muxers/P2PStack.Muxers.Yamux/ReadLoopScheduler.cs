using System.IO.Pipelines;

namespace P2PStack.Muxers.Yamux;

/// <summary>
/// The reader scheduler of every stream's inbound pipe. A continuation runs on the thread pool, as with
/// <see cref="PipeScheduler.ThreadPool"/>, except the one the session's read loop marks while it flushes a stream whose
/// reader asked to be resumed on the read loop (<see cref="YamuxStream.TryReadInline"/>): that one runs at once, on the
/// read loop's thread. Only data (flushed at the end of a read batch) is marked; resets, a cancelled read and the
/// session's end, which may come from any thread, always go to the thread pool.
/// </summary>
internal sealed class ReadLoopScheduler : PipeScheduler
{
    public static readonly ReadLoopScheduler Instance = new();

    [ThreadStatic]
    private static bool inlineNext;

    private ReadLoopScheduler()
    {
    }

    public override void Schedule(Action<object?> action, object? state)
    {
        if (inlineNext)
        {
            inlineNext = false; // one continuation: whatever that reader schedules in turn is not the read loop's
            action(state);
            return;
        }

        System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
    }

    /// <summary>Flushes <paramref name="writer"/> with its reader's continuation, if one is waiting, run on this
    /// thread (the read loop's).</summary>
    public static ValueTask<FlushResult> FlushInline(PipeWriter writer)
    {
        inlineNext = true;
        try
        {
            return writer.FlushAsync();
        }
        finally
        {
            inlineNext = false;
        }
    }
}
