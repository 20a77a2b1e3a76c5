using System.Threading.Channels;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// A subscription to one topic: read validated messages from <see cref="Reader"/> or enumerate it. Disposing
/// unsubscribes (the node leaves the topic when its last subscription goes).
/// </summary>
public sealed class Subscription : IAsyncEnumerable<PubSubMessage>, IAsyncDisposable, IDisposable
{
    private readonly Channel<PubSubMessage> _channel;
    private readonly Action<Subscription> _onDispose;
    private long _dropped;
    private int _disposed;

    internal Subscription(string topic, int capacity, Action<Subscription> onDispose)
    {
        Topic = topic;
        _onDispose = onDispose;
        _channel = Channel.CreateBounded<PubSubMessage>(new BoundedChannelOptions(capacity)
        {
            SingleReader = false,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full, so we can count the drop
        });
    }

    public string Topic { get; }

    public ChannelReader<PubSubMessage> Reader => _channel.Reader;

    /// <summary>Messages dropped because this subscription was not read fast enough.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    internal void Offer(PubSubMessage message)
    {
        if (!_channel.Writer.TryWrite(message) && Volatile.Read(ref _disposed) == 0) Interlocked.Increment(ref _dropped);
    }

    public IAsyncEnumerator<PubSubMessage> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        _channel.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _channel.Writer.TryComplete();
        _onDispose(this);
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>Our own message failed local validation and was not published.</summary>
public sealed class MessageRejectedException(string topic, ValidationResult result)
    : InvalidOperationException($"message to topic '{topic}' was not published: local validation answered {result}")
{
    public ValidationResult Result { get; } = result;
}
