using System.Collections.Concurrent;

namespace P2PStack.Privacy.Onion.Crypto;

/// <summary>
/// Ephemeral keys generated ahead of the handshakes that take them, so that their generation (an X-Wing key pair, an
/// X25519 base-point multiplication) is not on a circuit build's critical path. Each key is handed out once and then
/// belongs to the taker, who erases it after its one use; forward secrecy is as with keys generated on the spot. At most
/// <c>capacity</c> keys wait (0: none, every key is generated when taken). The owner calls <see cref="Refill"/> where
/// the work costs nobody a wait (after the step that took the keys, not during it: on two busy cores a refill beside
/// the critical path slows it). Disposing erases the keys still waiting.
/// </summary>
internal sealed class PreparedKeys<T>(Func<T> generate, int capacity) : IDisposable where T : class, IDisposable
{
    private readonly ConcurrentQueue<T> _ready = new();
    private int _refilling;
    private int _disposed;
    private TaskCompletionSource? _refill;

    /// <summary>Keys waiting (tests).</summary>
    internal int Count => _ready.Count;

    /// <summary>Completes when the last refill started has stopped generating (tests: no sleeping on the thread pool).</summary>
    internal Task Refilling => Volatile.Read(ref _refill)?.Task ?? Task.CompletedTask;

    /// <summary>A key generated ahead, or a fresh one when none waits.</summary>
    public T Take() => _ready.TryDequeue(out var ready) ? ready : generate();

    /// <summary>Fills the pool up to its capacity on the thread pool (one refill at a time).</summary>
    public void Refill()
    {
        if (capacity == 0 || Volatile.Read(ref _disposed) != 0 || _ready.Count >= capacity) return;
        if (Interlocked.CompareExchange(ref _refilling, 1, 0) != 0) return;
        Volatile.Write(ref _refill, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        ThreadPool.UnsafeQueueUserWorkItem(static pool => pool.RefillNow(), this, preferLocal: false);
    }

    private void RefillNow()
    {
        var done = Volatile.Read(ref _refill);
        try
        {
            while (Volatile.Read(ref _disposed) == 0 && _ready.Count < capacity) _ready.Enqueue(generate());
        }
        catch (Exception)
        {
            // Generation failing is a bug, not network input: the next Take generates on the spot and throws there.
        }
        finally
        {
            Volatile.Write(ref _refilling, 0);
            if (Volatile.Read(ref _disposed) != 0) Drain();
            done?.TrySetResult();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Drain();
    }

    private void Drain()
    {
        while (_ready.TryDequeue(out var key)) key.Dispose();
    }
}
