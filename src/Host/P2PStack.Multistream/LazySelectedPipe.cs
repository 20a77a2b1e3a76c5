using System.IO.Pipelines;
using System.Runtime.ExceptionServices;

namespace P2PStack.Multistream;

/// <summary>
/// A pipe whose protocol was proposed optimistically (<see cref="MultistreamSelect.SelectLazyAsync"/>). Writes go out
/// at once; the first read first consumes and checks the listener's header and answer.
/// </summary>
public sealed class LazySelectedPipe : IDuplexPipe
{
    private readonly LazyNegotiationReader _reader;

    internal LazySelectedPipe(IDuplexPipe inner, string protocol, MultistreamOptions options)
    {
        Protocol = protocol;
        _reader = new LazyNegotiationReader(inner.Input, protocol, options);
        Output = new LazyNegotiationWriter(inner.Output, _reader);
    }

    /// <summary>The protocol proposed (and, once confirmed, agreed).</summary>
    public string Protocol { get; }

    /// <summary>Whether the listener's acceptance has been read.</summary>
    public bool IsConfirmed => _reader.IsConfirmed;

    public PipeReader Input => _reader;

    public PipeWriter Output { get; }

    /// <summary>Waits for the listener's answer without reading protocol data.</summary>
    /// <exception cref="ProtocolNotSupportedException">The listener refused the protocol.</exception>
    public ValueTask ConfirmAsync(CancellationToken cancellationToken) => _reader.EnsureConfirmedAsync(cancellationToken);

    /// <summary>
    /// Waits until the listener's answer has been read (or negotiation failed), without throwing: call before closing
    /// the stream. Completing <see cref="Output"/> does this by itself.
    /// </summary>
    public ValueTask WaitForAnswerAsync(CancellationToken cancellationToken) => _reader.WaitForAnswerAsync(cancellationToken);
}

/// <summary>
/// The write side of a lazily negotiated stream. Completing it (the FIN) waits for the listener's answer first, as
/// go-multistream does on close: js-libp2p loses (resets) a stream whose proposal, data and FIN all arrive before its
/// listener has finished negotiating.
/// </summary>
internal sealed class LazyNegotiationWriter(PipeWriter inner, LazyNegotiationReader reader) : PipeWriter
{
    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;

    public override void Complete(Exception? exception = null)
    {
        if (exception is not null || reader.IsSettled)
        {
            inner.Complete(exception);
            return;
        }
        _ = CompleteAfterAnswerAsync();
    }

    public override async ValueTask CompleteAsync(Exception? exception = null)
    {
        if (exception is null && !reader.IsSettled) await CompleteAfterAnswerAsync().ConfigureAwait(false);
        else await inner.CompleteAsync(exception).ConfigureAwait(false);
    }

    private async Task CompleteAfterAnswerAsync()
    {
        try
        {
            await inner.FlushAsync().ConfigureAwait(false); // the data goes out now; only the FIN waits
            await reader.WaitForAnswerAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
        {
            // The stream failed; completing reports or ignores it as the inner writer does.
        }
        await inner.CompleteAsync().ConfigureAwait(false);
    }
}

internal sealed class LazyNegotiationReader(PipeReader inner, string protocol, MultistreamOptions options) : PipeReader
{
    private enum Stage { AwaitHeader, AwaitAnswer, Confirmed, Failed }

    private readonly SemaphoreSlim _negotiating = new(1, 1);
    private volatile Stage _stage = Stage.AwaitHeader;
    private ExceptionDispatchInfo? _failure;

    public bool IsConfirmed => _stage == Stage.Confirmed;

    /// <summary>The answer was read, or negotiation failed.</summary>
    public bool IsSettled => _stage is Stage.Confirmed or Stage.Failed;

    /// <summary>Reads the answer if nobody has yet; never throws (the reader reports failures).</summary>
    public async ValueTask WaitForAnswerAsync(CancellationToken cancellationToken)
    {
        if (IsSettled) return;
        try
        {
            await EnsureConfirmedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !IsSettled)
        {
            // A CancelPendingRead meant for the application's read hit this one: hand it on.
            inner.CancelPendingRead();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Kept in _failure for the reader.
        }
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        => _stage == Stage.Confirmed ? inner.ReadAsync(cancellationToken) : NegotiateThenReadAsync(cancellationToken);

    private async ValueTask<ReadResult> NegotiateThenReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            await EnsureConfirmedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!e.CancellationToken.IsCancellationRequested && _stage != Stage.Failed)
        {
            // CancelPendingRead() hit the handshake read: report it the way a pipe reports a cancelled read.
            return new ReadResult(default, isCanceled: true, isCompleted: false);
        }
        return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask EnsureConfirmedAsync(CancellationToken cancellationToken)
    {
        if (_stage == Stage.Confirmed) return;
        _failure?.Throw();
        // The reader and the closing writer may both ask; one reads the answer at a time.
        await _negotiating.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ReadAnswerAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _negotiating.Release();
        }
    }

    private async ValueTask ReadAnswerAsync(CancellationToken cancellationToken)
    {
        if (_stage == Stage.Confirmed) return;
        _failure?.Throw();
        using var deadline = Deadline.Start(options, cancellationToken);
        try
        {
            // Progress is kept per message, so a cancelled read can be resumed without losing sync.
            if (_stage == Stage.AwaitHeader)
            {
                await MultistreamCodec.ExpectHeaderAsync(inner, options, deadline.Token).ConfigureAwait(false);
                _stage = Stage.AwaitAnswer;
            }
            string answer = await MultistreamCodec.ReadTokenAsync(inner, options.MaxMessageLength, deadline.Token).ConfigureAwait(false);
            if (answer == protocol)
            {
                _stage = Stage.Confirmed;
                return;
            }
            throw answer == MultistreamCodec.NotAvailable
                ? new ProtocolNotSupportedException([protocol])
                : MultistreamSelect.UnexpectedResponse(protocol, answer);
        }
        catch (OperationCanceledException e) when (deadline.Expired(e))
        {
            throw Fail(deadline.TimedOut());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw Fail(e);
        }
    }

    private Exception Fail(Exception e)
    {
        _failure = ExceptionDispatchInfo.Capture(e);
        _stage = Stage.Failed;
        return e;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_stage == Stage.Confirmed) return inner.TryRead(out result);
        _failure?.Throw();
        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}
