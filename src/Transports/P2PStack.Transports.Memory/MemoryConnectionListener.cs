using System.Threading.Channels;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Memory;

internal sealed class MemoryConnectionListener : IListener
{
    private readonly MemoryNetwork _network;
    private readonly ulong _id;
    private readonly Channel<MemoryConnection> _pending;
    private int _disposed;

    public MemoryConnectionListener(MemoryNetwork network, ulong id, int backlog)
    {
        _network = network;
        _id = id;
        ListenAddress = MemoryAddresses.For(id);
        _pending = Channel.CreateBounded<MemoryConnection>(new BoundedChannelOptions(backlog)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleWriter = false,
            SingleReader = false,
        });
    }

    public Multiaddr ListenAddress { get; }

    /// <summary>Raised once when the listener is disposed.</summary>
    public event Action? Closed;

    /// <summary>Queues an inbound connection; false when the backlog is full or the listener closed.</summary>
    public bool TryEnqueue(MemoryConnection connection) => _pending.Writer.TryWrite(connection);

    public async ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            return await _pending.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw new ObjectDisposedException($"the listener on {ListenAddress} was closed", e);
        }
    }

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
        _network.Unbind(_id, this);
        Closed?.Invoke();
        _pending.Writer.TryComplete();
        // Dialers whose connections were never accepted see a reset, as with a closed TCP listen socket.
        while (_pending.Reader.TryRead(out MemoryConnection? queued)) queued.Abort();
        return ValueTask.CompletedTask;
    }
}
