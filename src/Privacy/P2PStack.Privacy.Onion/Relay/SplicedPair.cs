using System.IO.Pipelines;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// Two exit-stream ends joined back to back at an introduction point: what one end writes the other reads. Each
/// direction is a pipe with the default pause threshold, so a slow reader holds the writer back (and with it the
/// SENDMEs of the circuit behind it): the buffer between the two circuits is bounded. Completing an end's output is a
/// half-close the other end reads as the end of its input; resetting an end fails both directions for the other.
/// </summary>
internal sealed class SplicedPair
{
    private readonly Pipe _aToB = new(new PipeOptions(useSynchronizationContext: false));
    private readonly Pipe _bToA = new(new PipeOptions(useSynchronizationContext: false));

    public SplicedPair()
    {
        A = new End(_bToA.Reader, _aToB.Writer, this);
        B = new End(_aToB.Reader, _bToA.Writer, this);
    }

    /// <summary>The client's half.</summary>
    public IExitEnd A { get; }

    /// <summary>The service's half.</summary>
    public IExitEnd B { get; }

    private int _reset;

    private void Reset()
    {
        Volatile.Write(ref _reset, 1);
        var error = new IOException("the other half of the introduction was reset");
        _aToB.Writer.Complete(error);
        _bToA.Writer.Complete(error);
        _aToB.Reader.CancelPendingRead();
        _bToA.Reader.CancelPendingRead();
    }

    private sealed class End(PipeReader input, PipeWriter output, SplicedPair pair) : IExitEnd
    {
        private int _disposed;

        public PipeReader Input => input;

        public PipeWriter Output => output;

        public void Reset() => pair.Reset();

        public bool IsClosed => Volatile.Read(ref _disposed) != 0 || Volatile.Read(ref pair._reset) != 0;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            await output.CompleteAsync().ConfigureAwait(false);
            await input.CompleteAsync().ConfigureAwait(false);
        }
    }
}
