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
        Output = inner.Output;
        _reader = new LazyNegotiationReader(inner.Input, protocol, options);
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
}

internal sealed class LazyNegotiationReader(PipeReader inner, string protocol, MultistreamOptions options) : PipeReader
{
    private enum Stage { AwaitHeader, AwaitAnswer, Confirmed, Failed }

    private volatile Stage _stage = Stage.AwaitHeader;
    private ExceptionDispatchInfo? _failure;

    public bool IsConfirmed => _stage == Stage.Confirmed;

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
