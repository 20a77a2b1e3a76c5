using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Conformance.Security;

/// <summary>
/// A raw connection over an in-memory pipe pair, for secure-channel tests. Completing Output half-closes (the peer
/// reads end of stream); <see cref="Abort"/> fails this side's pending and later operations and resets the peer's.
/// </summary>
public sealed class MemoryRawConnection : IRawConnection
{
    private readonly AbortablePipeReader _input;
    private readonly AbortablePipeWriter _output;
    private MemoryRawConnection? _peer;
    private int _aborted;

    private MemoryRawConnection(IDuplexPipe pipe, Direction direction, Multiaddr local, Multiaddr remote)
    {
        _input = new AbortablePipeReader(pipe.Input);
        _output = new AbortablePipeWriter(pipe.Output);
        Direction = direction;
        LocalAddress = local;
        RemoteAddress = remote;
    }

    /// <summary>A connected pair: the dialer (outbound) and the listener (inbound) end.</summary>
    public static (MemoryRawConnection Dialer, MemoryRawConnection Listener) CreatePair(PipeOptions? options = null)
    {
        var (a, b) = DuplexPipe.CreatePair(options);
        var dialerAddress = Multiaddr.Parse("/memory/1");
        var listenerAddress = Multiaddr.Parse("/memory/2");
        var dialer = new MemoryRawConnection(a, Direction.Outbound, dialerAddress, listenerAddress);
        var listener = new MemoryRawConnection(b, Direction.Inbound, listenerAddress, dialerAddress);
        dialer._peer = listener;
        listener._peer = dialer;
        return (dialer, listener);
    }

    public PipeReader Input => _input;

    public PipeWriter Output => _output;

    public Multiaddr LocalAddress { get; }

    public Multiaddr RemoteAddress { get; }

    public Direction Direction { get; }

    /// <summary>Whether <see cref="Abort"/> was called on this end (not a reset from the peer).</summary>
    public bool IsAborted => Volatile.Read(ref _aborted) != 0;

    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        var error = new IOException("connection aborted");
        _input.Abort(error);
        _output.Abort(error);
        _peer?.Reset();
    }

    private void Reset()
    {
        var error = new IOException("connection reset by peer");
        _input.Abort(error);
        _output.Abort(error);
    }

    public ValueTask DisposeAsync()
    {
        _output.Complete();
        _input.Complete();
        return ValueTask.CompletedTask;
    }
}
