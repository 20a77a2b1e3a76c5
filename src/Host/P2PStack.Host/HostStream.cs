using System.IO.Pipelines;
using P2PStack.Multistream;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// A muxed stream after protocol negotiation. Reads and writes go through <paramref name="pipe"/> (the stream itself,
/// or the lazy-negotiation wrapper that checks the remote's answer on the first read).
/// </summary>
internal sealed class HostStream(IMuxedStream inner, IDuplexPipe pipe, string protocol, HostConnection connection,
    StreamScope resources) : IStream
{
    private readonly System.Runtime.CompilerServices.StrongBox<int> _open = connection.Metrics.StreamOpened(protocol, inner.Direction);
    private int _disposed;

    public string Protocol { get; } = protocol;

    public IConnection Connection => connection;

    public Direction Direction => inner.Direction;

    public PipeReader Input => pipe.Input;

    public PipeWriter Output => pipe.Output;

    public bool TryReadInline() => inner.TryReadInline();

    public void Reset()
    {
        inner.Reset();
        Release();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // Closing a lazily negotiated stream waits for the listener's answer first (see LazyNegotiationWriter).
            if (pipe is LazySelectedPipe { IsConfirmed: false } lazy)
                await lazy.WaitForAnswerAsync(CancellationToken.None).ConfigureAwait(false);
            await inner.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            Release();
        }
    }

    private void Release()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Interlocked.Decrement(ref _open.Value);
        resources.Dispose();
        connection.ReleaseStream();
    }
}
