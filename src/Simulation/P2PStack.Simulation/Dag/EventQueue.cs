using System.Diagnostics.CodeAnalysis;

namespace P2PStack.Simulation.Dag;

/// <summary>
/// The model's event queue: events in ascending (time, sequence) order, sequences unique, exactly as one priority
/// queue keyed by both would give them. Most events are messages arriving one fixed link delay after the current time,
/// so they are scheduled in ascending order already: the caller puts those in a first-in first-out lane
/// (<see cref="EnqueueInOrder"/>, O(1)); timers and the rest go to a heap (as does an event that would not come after
/// the last one in the lane). Dequeuing takes the smaller of the two heads.
/// </summary>
internal sealed class EventQueue<T>
    where T : class
{
    private readonly Queue<(T Item, (long Ticks, long Sequence) Key)> _ordered = new();
    private readonly PriorityQueue<T, (long Ticks, long Sequence)> _heap = new();
    private (long Ticks, long Sequence) _lastOrdered = (long.MinValue, long.MinValue);

    public int Count => _ordered.Count + _heap.Count;

    public void Enqueue(T item, (long Ticks, long Sequence) key) => _heap.Enqueue(item, key);

    /// <summary>Enqueues an event expected to come after every event enqueued in order before it (else it goes to the
    /// heap: the order of dequeuing is the same either way).</summary>
    public void EnqueueInOrder(T item, (long Ticks, long Sequence) key)
    {
        if (key.CompareTo(_lastOrdered) <= 0)
        {
            _heap.Enqueue(item, key);
            return;
        }
        _ordered.Enqueue((item, key));
        _lastOrdered = key;
    }

    public bool TryDequeue([MaybeNullWhen(false)] out T item, out (long Ticks, long Sequence) key)
    {
        bool fromHeap = _heap.TryPeek(out var heapItem, out var heapKey);
        if (_ordered.TryPeek(out var head) && (!fromHeap || head.Key.CompareTo(heapKey) < 0))
        {
            _ordered.Dequeue();
            (item, key) = head;
            return true;
        }
        if (!fromHeap)
        {
            (item, key) = (default, default);
            return false;
        }
        item = _heap.Dequeue();
        key = heapKey;
        return true;
    }
}
