using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// Synchronous typed event bus. Subscribers are kept per event type in copy-on-write arrays, so publishing takes no
/// lock and allocates nothing; a throwing subscriber is logged and does not stop the others.
/// </summary>
public sealed partial class EventBus(ILogger<EventBus> logger) : IEventBus
{
    private readonly ConcurrentDictionary<Type, Delegate[]> _handlers = new();

    public IDisposable Subscribe<TEvent>(Action<TEvent> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handlers.AddOrUpdate(typeof(TEvent), _ => [handler], (_, existing) => [.. existing, handler]);
        return new Subscription(() => _handlers.AddOrUpdate(typeof(TEvent), _ => [],
            (_, existing) => Array.FindAll(existing, h => !ReferenceEquals(h, handler))));
    }

    public void Publish<TEvent>(TEvent value)
    {
        if (!_handlers.TryGetValue(typeof(TEvent), out var handlers)) return;
        foreach (var handler in handlers)
        {
            try
            {
                ((Action<TEvent>)handler)(value);
            }
            catch (Exception ex)
            {
                LogSubscriberFailed(typeof(TEvent).Name, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A subscriber of {EventType} threw")]
    private partial void LogSubscriberFailed(string eventType, Exception exception);

    private sealed class Subscription(Action unsubscribe) : IDisposable
    {
        private Action? _unsubscribe = unsubscribe;

        public void Dispose() => Interlocked.Exchange(ref _unsubscribe, null)?.Invoke();
    }
}
