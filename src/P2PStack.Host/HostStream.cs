using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>A muxed stream after protocol negotiation. Bytes read past the negotiation stay in the pipe.</summary>
internal sealed class HostStream(IMuxedStream inner, string protocol, HostConnection connection) : IStream
{
    private int _disposed;

    public string Protocol { get; } = protocol;

    public IConnection Connection => connection;

    public Direction Direction => inner.Direction;

    public PipeReader Input => inner.Input;

    public PipeWriter Output => inner.Output;

    public void Reset()
    {
        inner.Reset();
        Release();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await inner.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            Release();
        }
    }

    private void Release()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) connection.ReleaseStream();
    }
}
