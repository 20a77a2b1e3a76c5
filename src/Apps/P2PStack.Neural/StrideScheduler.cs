namespace P2PStack.Neural;

/// <summary>
/// Priority queue over priorities 0..10 that never starves a priority: stride scheduling where priority p has weight
/// (p+1)², so under saturation priority 10 gets 121 sends for every one of priority 0, and every non-empty lane is
/// served within a bounded number of turns. Within a priority, first in first out. Not thread-safe.
/// </summary>
internal sealed class StrideScheduler<T>
{
    private const long Scale = 1L << 20;

    private readonly Queue<T>[] _lanes = new Queue<T>[NeuralProtocol.MaxPriority + 1];
    private readonly long[] _pass = new long[NeuralProtocol.MaxPriority + 1];
    private long _virtualTime;

    public StrideScheduler()
    {
        for (int i = 0; i < _lanes.Length; i++) _lanes[i] = new Queue<T>();
    }

    public int Count { get; private set; }

    public static long Stride(int priority) => Scale / ((priority + 1L) * (priority + 1L));

    public void Enqueue(T item, int priority)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(priority);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(priority, NeuralProtocol.MaxPriority);
        var lane = _lanes[priority];
        // A lane that (re)joins starts one stride ahead of now, so idle time earns no credit.
        if (lane.Count == 0) _pass[priority] = Math.Max(_pass[priority], _virtualTime + Stride(priority));
        lane.Enqueue(item);
        Count++;
    }

    public bool TryDequeue(out T item)
    {
        int best = -1;
        for (int p = NeuralProtocol.MaxPriority; p >= 0; p--)
        {
            if (_lanes[p].Count == 0) continue;
            if (best < 0 || _pass[p] < _pass[best]) best = p;
        }
        if (best < 0)
        {
            item = default!;
            return false;
        }
        item = _lanes[best].Dequeue();
        Count--;
        _virtualTime = _pass[best];
        _pass[best] += Stride(best);
        return true;
    }

    /// <summary>Removes everything (for shutdown).</summary>
    public List<T> Drain()
    {
        var all = new List<T>(Count);
        foreach (var lane in _lanes)
        {
            all.AddRange(lane);
            lane.Clear();
        }
        Count = 0;
        return all;
    }
}
