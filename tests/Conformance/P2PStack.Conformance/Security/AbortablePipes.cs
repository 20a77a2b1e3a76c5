using System.IO.Pipelines;

namespace P2PStack.Conformance.Security;

/// <summary>A pipe reader whose pending and later reads fail once the connection is aborted or reset.</summary>
internal sealed class AbortablePipeReader(PipeReader inner) : PipeReader
{
    private volatile Exception? _error;

    public void Abort(Exception error)
    {
        _error ??= error;
        inner.CancelPendingRead();
    }

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfAborted();
        var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (_error is not null)
        {
            inner.AdvanceTo(result.Buffer.Start);
            ThrowIfAborted();
        }

        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        ThrowIfAborted();
        return inner.TryRead(out result);
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    private void ThrowIfAborted()
    {
        if (_error is { } error)
        {
            throw new IOException(error.Message, error);
        }
    }
}

/// <summary>A pipe writer whose pending and later writes fail once the connection is aborted or reset.</summary>
internal class AbortablePipeWriter(PipeWriter inner) : PipeWriter
{
    private volatile Exception? _error;

    public void Abort(Exception error)
    {
        _error ??= error;
        inner.CancelPendingFlush();
    }

    public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfAborted();
        var result = await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        ThrowIfAborted();
        return result;
    }

    public override void Advance(int bytes)
    {
        ThrowIfAborted();
        inner.Advance(bytes);
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ThrowIfAborted();
        return inner.GetMemory(sizeHint);
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    protected void ThrowIfAborted()
    {
        if (_error is { } error)
        {
            throw new IOException(error.Message, error);
        }
    }
}
