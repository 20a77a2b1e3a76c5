using System.Collections.Concurrent;

namespace P2PStack.Transports.Memory;

/// <summary>
/// The space of <c>/memory/&lt;id&gt;</c> addresses: transports sharing one network reach each other's listeners.
/// Register one as a singleton for a process; tests and simulations make as many isolated networks as they like.
/// </summary>
public sealed class MemoryNetwork
{
    private readonly ConcurrentDictionary<ulong, MemoryConnectionListener> _listeners = new();

    // Ids handed out for port-0 style listens and for dialers' local addresses. Starting high keeps them clear of
    // the small ids tests and configurations tend to pick by hand.
    private long _nextId = 1L << 32;

    internal ulong AllocateId() => (ulong)Interlocked.Increment(ref _nextId);

    internal bool TryBind(ulong id, MemoryConnectionListener listener) => _listeners.TryAdd(id, listener);

    internal void Unbind(ulong id, MemoryConnectionListener listener) => _listeners.TryRemove(new KeyValuePair<ulong, MemoryConnectionListener>(id, listener));

    internal bool TryFind(ulong id, out MemoryConnectionListener listener) => _listeners.TryGetValue(id, out listener!);

    /// <summary>Number of bound listeners (diagnostics).</summary>
    public int ListenerCount => _listeners.Count;
}
