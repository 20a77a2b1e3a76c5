using System.Threading.Channels;

namespace P2PStack.Consensus.Dag;

/// <summary>A live feed of DAG events (see <see cref="IDagConsensus.Watch"/>).</summary>
public sealed class DagWatcher : IAsyncEnumerable<DagEvent>, IDisposable
{
    private readonly Channel<DagEvent> _channel;
    private readonly Action<DagWatcher> _onDispose;
    private long _dropped;
    private int _disposed;

    internal DagWatcher(int capacity, Action<DagWatcher> onDispose)
    {
        _onDispose = onDispose;
        _channel = Channel.CreateBounded<DagEvent>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropOldest,
        }, _ => Interlocked.Increment(ref _dropped));
    }

    public ChannelReader<DagEvent> Reader => _channel.Reader;

    /// <summary>Events lost because the reader fell behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    internal void Offer(DagEvent e) => _channel.Writer.TryWrite(e);

    public IAsyncEnumerator<DagEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        _channel.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _channel.Writer.TryComplete();
        _onDispose(this);
    }
}
