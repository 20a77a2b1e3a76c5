using System.IO.Pipelines;

namespace P2PStack.Testing;

/// <summary>
/// (Test support linked into the test projects whose doubles wrap a reader: host, interop, onion.) A
/// <see cref="PipeReader"/> that passes every call to <paramref name="inner"/>, so that a double overrides only what it
/// changes (a fault, a trace) and shows nothing else.
/// </summary>
internal abstract class DelegatingPipeReader(PipeReader inner) : PipeReader
{
    /// <summary>The reader everything is passed to.</summary>
    protected PipeReader Inner => inner;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => inner.ReadAsync(cancellationToken);

    public override bool TryRead(out ReadResult result) => inner.TryRead(out result);

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
}
