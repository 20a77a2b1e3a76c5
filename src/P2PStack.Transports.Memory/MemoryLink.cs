using System.IO.Pipelines;

namespace P2PStack.Transports.Memory;

/// <summary>
/// The two directions of one in-memory connection and its reset state. A reset never completes a pipe end that
/// belongs to someone else (pipes are single-owner per end); instead it flags the link and wakes every pending
/// read and flush, and the wrappers below turn the flag into an <see cref="IOException"/>.
/// </summary>
internal sealed class MemoryLink
{
    private volatile MemoryConnection? _abortedBy;

    public MemoryLink(MemoryTransportOptions options)
    {
        var pipeOptions = new PipeOptions(
            pauseWriterThreshold: options.MaxBufferedBytes,
            resumeWriterThreshold: options.MaxBufferedBytes / 2,
            useSynchronizationContext: false);
        DialerToListener = new Pipe(pipeOptions);
        ListenerToDialer = new Pipe(pipeOptions);
    }

    public Pipe DialerToListener { get; }

    public Pipe ListenerToDialer { get; }

    public bool IsAborted => _abortedBy is not null;

    public void Abort(MemoryConnection by)
    {
        if (Interlocked.CompareExchange(ref _abortedBy, by, null) is not null) return;
        DialerToListener.Reader.CancelPendingRead();
        ListenerToDialer.Reader.CancelPendingRead();
        DialerToListener.Writer.CancelPendingFlush();
        ListenerToDialer.Writer.CancelPendingFlush();
    }

    public IOException AbortError(MemoryConnection observer) => ReferenceEquals(_abortedBy, observer)
        ? new IOException($"connection to {observer.RemoteAddress} was aborted locally")
        : new IOException($"connection to {observer.RemoteAddress} was reset by the remote");
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
