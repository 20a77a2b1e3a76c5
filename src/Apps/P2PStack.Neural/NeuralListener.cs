using System.Threading.Channels;

namespace P2PStack.Neural;

/// <summary>A live feed of delivered messages (see <see cref="NeuralMesh.Listen"/>).</summary>
public sealed class NeuralListener : IAsyncEnumerable<ReceivedMessage>, IDisposable
{
    private readonly Channel<ReceivedMessage> _channel;
    private readonly Action<NeuralListener> _onDispose;
    private long _dropped;
    private int _disposed;

    internal NeuralListener(string? agent, int capacity, Action<NeuralListener> onDispose)
    {
        Agent = agent;
        _onDispose = onDispose;
        _channel = Channel.CreateBounded<ReceivedMessage>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropOldest,
        }, _ => Interlocked.Increment(ref _dropped));
    }

    /// <summary>Only messages addressed to this agent, or all when null.</summary>
    public string? Agent { get; }

    public ChannelReader<ReceivedMessage> Reader => _channel.Reader;

    /// <summary>Messages lost because the reader fell behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    internal void Offer(ReceivedMessage message)
    {
        if (Agent is not null && (message.Destination.Kind != DestinationKind.Agent || message.Destination.Name != Agent)) return;
        _channel.Writer.TryWrite(message);
    }

    public IAsyncEnumerator<ReceivedMessage> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        _channel.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _channel.Writer.TryComplete();
        _onDispose(this);
    }
}
