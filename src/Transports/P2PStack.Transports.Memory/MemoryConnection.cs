using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Memory;

/// <summary>One end of an in-memory connection. Completing <see cref="Output"/> is a half-close.</summary>
internal sealed class MemoryConnection : IRawConnection
{
    private readonly MemoryLink _link;
    private int _disposed;

    public MemoryConnection(MemoryLink link, Direction direction, Multiaddr local, Multiaddr remote)
    {
        _link = link;
        Direction = direction;
        LocalAddress = local;
        RemoteAddress = remote;
        ILinkDirection incoming = direction == Direction.Outbound ? link.ListenerToDialer : link.DialerToListener;
        ILinkDirection outgoing = direction == Direction.Outbound ? link.DialerToListener : link.ListenerToDialer;
        Input = new LinkReader(incoming.Reader, link, this);
        Output = new LinkWriter(outgoing.Writer, link, this);
    }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    public Multiaddr LocalAddress { get; }

    public Multiaddr RemoteAddress { get; }

    public Direction Direction { get; }

    public void Abort() => _link.Abort(this);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Graceful: what was flushed stays readable by the remote, then it sees the end of the stream.
        await Output.CompleteAsync().ConfigureAwait(false);
        await Input.CompleteAsync().ConfigureAwait(false);
    }
}
