using System.Threading.Channels;

namespace P2PStack.Registry.Events;

/// <summary>
/// Fans registry events out to the live stream's subscribers. Each subscriber has a bounded buffer; one that falls
/// behind is disconnected (it reconnects and reloads the topology) so a slow reader never holds events for others.
/// </summary>
internal sealed class RegistryEventHub(RegistryOptions options)
{
    private readonly Lock _gate = new();
    private readonly List<Channel<RegistryEvent>> _subscribers = [];

    public int SubscriberCount
    {
        get { lock (_gate) return _subscribers.Count; }
    }

    /// <summary>A new subscription, or null when <see cref="RegistryOptions.MaxEventSubscribers"/> are connected.</summary>
    public Subscription? Subscribe()
    {
        var channel = Channel.CreateBounded<RegistryEvent>(new BoundedChannelOptions(options.EventBufferPerSubscriber)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails instead of dropping silently
        });
        lock (_gate)
        {
            if (_subscribers.Count >= options.MaxEventSubscribers) return null;
            _subscribers.Add(channel);
        }
        return new Subscription(this, channel);
    }

    public void Publish(string type, string? nodeId, string? status) =>
        Publish(new RegistryEvent(type, nodeId, status, options.TimeProvider.GetUtcNow()));

    public void Publish(RegistryEvent registryEvent)
    {
        List<Channel<RegistryEvent>>? lagging = null;
        lock (_gate)
        {
            foreach (var subscriber in _subscribers)
            {
                if (!subscriber.Writer.TryWrite(registryEvent)) (lagging ??= []).Add(subscriber);
            }
            if (lagging is not null)
            {
                foreach (var subscriber in lagging)
                {
                    _subscribers.Remove(subscriber);
                    subscriber.Writer.TryComplete(new ChannelClosedException("the subscriber fell behind"));
                }
            }
        }
    }

    private void Remove(Channel<RegistryEvent> channel)
    {
        lock (_gate) _subscribers.Remove(channel);
        channel.Writer.TryComplete();
    }

    public sealed class Subscription(RegistryEventHub hub, Channel<RegistryEvent> channel) : IDisposable
    {
        public ChannelReader<RegistryEvent> Reader => channel.Reader;

        public void Dispose() => hub.Remove(channel);
    }
}
