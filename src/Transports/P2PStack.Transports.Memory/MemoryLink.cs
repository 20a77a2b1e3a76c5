using System.IO.Pipelines;

namespace P2PStack.Transports.Memory;

/// <summary>
/// The two directions of one in-memory connection and its reset state. A reset never completes a pipe end that
/// belongs to someone else (pipes are single-owner per end); instead it flags the link and wakes every pending
/// read and flush, and the wrappers below turn the flag into an <see cref="IOException"/>.
/// </summary>
internal sealed class MemoryLink
{
    private static readonly object NetworkReset = new();
    private volatile object? _abortedBy;
    private ITimer? _resetTimer;

    public MemoryLink(MemoryTransportOptions options) : this(options, MemoryLinkConditions.Perfect, 0, TimeProvider.System)
    {
    }

    public MemoryLink(MemoryTransportOptions options, MemoryLinkConditions conditions, int seed, TimeProvider time)
    {
        var pipeOptions = new PipeOptions(
            pauseWriterThreshold: options.MaxBufferedBytes,
            resumeWriterThreshold: options.MaxBufferedBytes / 2,
            useSynchronizationContext: false);
        if (conditions.DelaysDelivery)
        {
            var random = new Random(seed);
            DialerToListener = new DelayLine(pipeOptions, options.MaxBufferedBytes, conditions, random.Next(), time);
            ListenerToDialer = new DelayLine(pipeOptions, options.MaxBufferedBytes, conditions, random.Next(), time);
        }
        else
        {
            DialerToListener = new DirectLine(pipeOptions);
            ListenerToDialer = new DirectLine(pipeOptions);
        }
    }

    public ILinkDirection DialerToListener { get; }

    public ILinkDirection ListenerToDialer { get; }

    public bool IsAborted => _abortedBy is not null;

    public void Abort(MemoryConnection by) => AbortCore(by);

    /// <summary>Resets the connection after <paramref name="delay"/>, as a network fault (neither end did it).</summary>
    public void ScheduleReset(TimeSpan delay, TimeProvider time)
    {
        _resetTimer = time.CreateTimer(_ => AbortCore(NetworkReset), null, delay, Timeout.InfiniteTimeSpan);
        if (IsAborted) _resetTimer.Dispose();
    }

    private void AbortCore(object by)
    {
        if (Interlocked.CompareExchange(ref _abortedBy, by, null) is not null) return;
        _resetTimer?.Dispose();
        DialerToListener.Abort();
        ListenerToDialer.Abort();
    }

    public IOException AbortError(MemoryConnection observer) => _abortedBy switch
    {
        var by when ReferenceEquals(by, observer) => new IOException($"connection to {observer.RemoteAddress} was aborted locally"),
        var by when ReferenceEquals(by, NetworkReset) => new IOException($"connection to {observer.RemoteAddress} was reset by the network"),
        _ => new IOException($"connection to {observer.RemoteAddress} was reset by the remote"),
    };
}

/// <summary>One direction of a link: the sender's writer and the receiver's reader.</summary>
internal interface ILinkDirection
{
    PipeWriter Writer { get; }

    PipeReader Reader { get; }

    /// <summary>Wakes pending reads and flushes (they then see the link's reset flag) and stops any pump.</summary>
    void Abort();
}

/// <summary>Instant delivery: one pipe, the writer's bytes are readable as soon as they are flushed.</summary>
internal sealed class DirectLine(PipeOptions options) : ILinkDirection
{
    private readonly Pipe _pipe = new(options);

    public PipeWriter Writer => _pipe.Writer;

    public PipeReader Reader => _pipe.Reader;

    public void Abort()
    {
        _pipe.Reader.CancelPendingRead();
        _pipe.Writer.CancelPendingFlush();
    }
}

internal sealed class LinkReader(PipeReader inner, MemoryLink link, MemoryConnection owner) : PipeReader
{
    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (link.IsAborted) throw link.AbortError(owner);
        ReadResult result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (link.IsAborted)
        {
            inner.AdvanceTo(result.Buffer.Start);
            throw link.AbortError(owner);
        }
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (link.IsAborted) throw link.AbortError(owner);
        return inner.TryRead(out result);
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}

internal sealed class LinkWriter(PipeWriter inner, MemoryLink link, MemoryConnection owner) : PipeWriter
{
    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (link.IsAborted) throw link.AbortError(owner);
        FlushResult result = await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (link.IsAborted) throw link.AbortError(owner);
        return result;
    }

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;
}
