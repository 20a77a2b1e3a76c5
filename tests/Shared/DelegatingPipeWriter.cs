using System.IO.Pipelines;

namespace P2PStack.Testing;

/// <summary>
/// (Test support linked into the test projects whose doubles wrap a writer: onion, Noise, host, interop.) A <see cref="PipeWriter"/>
/// that passes every call to <paramref name="inner"/>, so that a double overrides only what it changes (a fault, a
/// split) and shows nothing else.
/// </summary>
internal abstract class DelegatingPipeWriter(PipeWriter inner) : PipeWriter
{
    /// <summary>The writer everything is passed to.</summary>
    protected PipeWriter Inner => inner;

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
