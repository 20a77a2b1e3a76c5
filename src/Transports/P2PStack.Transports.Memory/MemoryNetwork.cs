using System.Collections.Concurrent;

namespace P2PStack.Transports.Memory;

/// <summary>
/// The space of <c>/memory/&lt;id&gt;</c> addresses: transports sharing one network reach each other's listeners.
/// Register one as a singleton for a process; tests and simulations make as many isolated networks as they like.
/// Link conditions (latency, loss, faults) apply to connections made after they are set; their random draws come
/// from the network's seed.
/// </summary>
public sealed class MemoryNetwork
{
    private readonly ConcurrentDictionary<ulong, MemoryConnectionListener> _listeners = new();
    private readonly Random _random;
    private readonly Lock _randomGate = new();
    private MemoryLinkConditions _defaultConditions = MemoryLinkConditions.Perfect;

    // Ids handed out for port-0 style listens and for dialers' local addresses. Starting high keeps them clear of
    // the small ids tests and configurations tend to pick by hand.
    private long _nextId = 1L << 32;

    /// <summary>A network with an unpredictable seed.</summary>
    public MemoryNetwork() => _random = new Random();

    /// <summary>A network whose random link conditions (jitter, loss, faults) draw from <paramref name="seed"/>.
    /// Each connection gets its own generator seeded from this one in dial order.</summary>
    public MemoryNetwork(int seed) => _random = new Random(seed);

    /// <summary>Conditions of every connection unless <see cref="LinkConditions"/> says otherwise.</summary>
    public MemoryLinkConditions DefaultLinkConditions
    {
        get => _defaultConditions;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            value.Validate();
            _defaultConditions = value;
        }
    }

    /// <summary>
    /// Per-link conditions: called on each dial with the dialing transport's first listen id (0 when it listens on
    /// nothing) and the dialed id; null falls back to <see cref="DefaultLinkConditions"/>.
    /// </summary>
    public Func<ulong, ulong, MemoryLinkConditions?>? LinkConditions { get; set; }

    /// <summary>Clock of the delays (a fake one makes latency deterministic in tests).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Number of bound listeners (diagnostics).</summary>
    public int ListenerCount => _listeners.Count;

    internal ulong AllocateId() => (ulong)Interlocked.Increment(ref _nextId);

    internal bool TryBind(ulong id, MemoryConnectionListener listener) => _listeners.TryAdd(id, listener);

    internal void Unbind(ulong id, MemoryConnectionListener listener) => _listeners.TryRemove(new KeyValuePair<ulong, MemoryConnectionListener>(id, listener));

    internal bool TryFind(ulong id, out MemoryConnectionListener listener) => _listeners.TryGetValue(id, out listener!);

    internal MemoryLinkConditions ConditionsFor(ulong dialer, ulong listener)
    {
        var conditions = LinkConditions?.Invoke(dialer, listener);
        if (conditions is null) return _defaultConditions;
        conditions.Validate();
        return conditions;
    }

    /// <summary>A seed for one connection's generator, drawn in dial order from the network's.</summary>
    internal int NextSeed()
    {
        lock (_randomGate) return _random.Next();
    }
}
