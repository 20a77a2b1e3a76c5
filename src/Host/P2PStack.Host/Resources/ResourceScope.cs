using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// One node of the resource manager's scope graph. Every count lives under the manager's single lock: a reservation
/// checks the scope and all its ancestors, then counts in all of them, so a refusal leaves nothing behind. A scope
/// counts what it holds itself and everything below it; closing a scope returns only what it holds itself (its
/// connection or stream, its own memory), since what is below it is returned by its own scopes as they close.
/// </summary>
internal class ResourceScope : IResourceScope
{
    private int _connectionsIn, _connectionsOut, _streamsIn, _streamsOut;
    private long _memory;

    // What this scope holds itself (not its children): returned by Close.
    private protected int OwnConnectionsIn, OwnConnectionsOut, OwnStreamsIn, OwnStreamsOut;
    private protected long OwnMemory;

    public ResourceScope(ResourceManager manager, string kind, string name, ResourceLimit limit, params ResourceScope[] parents)
    {
        Manager = manager;
        Kind = kind;
        Name = name;
        Limit = limit;
        Parents = parents;
    }

    public ResourceManager Manager { get; }

    public string Kind { get; }

    public string Name { get; }

    public ResourceLimit Limit { get; }

    /// <summary>Direct parents (changed under the manager's lock when a connection learns its peer or a stream its
    /// protocol).</summary>
    public ResourceScope[] Parents { get; set; }

    public bool IsClosed { get; private set; }

    public long Refusals { get; set; }

    public ResourceUsage Usage
    {
        get
        {
            lock (Manager.Gate) return UsageLocked;
        }
    }

    public ResourceUsage UsageLocked => new(_connectionsIn, _connectionsOut, _streamsIn, _streamsOut, _memory);

    public void ReserveMemory(long bytes, byte priority = 255)
    {
        if (Manager.TryReserve(this, new Delta(Memory: bytes), priority) is { } refusal) throw refusal;
    }

    public bool TryReserveMemory(long bytes, byte priority = 255) =>
        Manager.TryReserve(this, new Delta(Memory: bytes), priority) is null;

    public void ReleaseMemory(long bytes) => Manager.Release(this, new Delta(Memory: bytes));

    /// <summary>The scope and its ancestors, each once.</summary>
    public List<ResourceScope> Chain()
    {
        var chain = new List<ResourceScope>(6) { this };
        for (int i = 0; i < chain.Count; i++)
        {
            foreach (var parent in chain[i].Parents)
                if (!chain.Contains(parent)) chain.Add(parent);
        }
        return chain;
    }

    /// <summary>The refusal if adding <paramref name="delta"/> would cross a limit of this scope (under the lock).</summary>
    public ResourceLimitExceededException? Check(in Delta delta, byte priority)
    {
        if (delta.ConnectionsIn > 0 && _connectionsIn + delta.ConnectionsIn > Limit.ConnectionsInbound)
            return Refuse("connections inbound", _connectionsIn, delta.ConnectionsIn, Limit.ConnectionsInbound);
        if (delta.ConnectionsOut > 0 && _connectionsOut + delta.ConnectionsOut > Limit.ConnectionsOutbound)
            return Refuse("connections outbound", _connectionsOut, delta.ConnectionsOut, Limit.ConnectionsOutbound);
        int connections = delta.ConnectionsIn + delta.ConnectionsOut;
        if (connections > 0 && _connectionsIn + _connectionsOut + connections > Limit.Connections)
            return Refuse("connections", _connectionsIn + _connectionsOut, connections, Limit.Connections);
        if (delta.StreamsIn > 0 && _streamsIn + delta.StreamsIn > Limit.StreamsInbound)
            return Refuse("streams inbound", _streamsIn, delta.StreamsIn, Limit.StreamsInbound);
        if (delta.StreamsOut > 0 && _streamsOut + delta.StreamsOut > Limit.StreamsOutbound)
            return Refuse("streams outbound", _streamsOut, delta.StreamsOut, Limit.StreamsOutbound);
        int streams = delta.StreamsIn + delta.StreamsOut;
        if (streams > 0 && _streamsIn + _streamsOut + streams > Limit.Streams)
            return Refuse("streams", _streamsIn + _streamsOut, streams, Limit.Streams);
        if (delta.Memory > 0)
        {
            // Lower priorities may only fill a share of the limit: (priority + 1) / 256 of it.
            long ceiling = priority == 255 || Limit.Memory == long.MaxValue
                ? Limit.Memory
                : (long)(Limit.Memory * ((priority + 1) / 256.0));
            if (_memory + delta.Memory > ceiling) return Refuse("memory", _memory, delta.Memory, Limit.Memory);
        }
        return null;
    }

    private ResourceLimitExceededException Refuse(string resource, long used, long requested, long limit)
    {
        Refusals++;
        Manager.CountRefusal(this, resource);
        return new ResourceLimitExceededException(Name, resource, used, requested, limit);
    }

    public void Apply(in Delta delta, int sign)
    {
        _connectionsIn += sign * delta.ConnectionsIn;
        _connectionsOut += sign * delta.ConnectionsOut;
        _streamsIn += sign * delta.StreamsIn;
        _streamsOut += sign * delta.StreamsOut;
        _memory += sign * delta.Memory;
    }

    /// <summary>Records what this scope holds itself (under the lock, after a successful reservation).</summary>
    public void ApplyOwn(in Delta delta, int sign)
    {
        OwnConnectionsIn += sign * delta.ConnectionsIn;
        OwnConnectionsOut += sign * delta.ConnectionsOut;
        OwnStreamsIn += sign * delta.StreamsIn;
        OwnStreamsOut += sign * delta.StreamsOut;
        OwnMemory += sign * delta.Memory;
    }

    public Delta Own => new(OwnConnectionsIn, OwnConnectionsOut, OwnStreamsIn, OwnStreamsOut, OwnMemory);

    /// <summary>Returns what the scope holds itself to its chain and refuses further use (under the lock).</summary>
    public void CloseLocked()
    {
        if (IsClosed) return;
        var own = Own;
        foreach (var scope in Chain()) scope.Apply(own, -1);
        ApplyOwn(own, -1);
        IsClosed = true;
    }

    public override string ToString() => Name;
}

/// <summary>A change of counts.</summary>
internal readonly record struct Delta(int ConnectionsIn = 0, int ConnectionsOut = 0, int StreamsIn = 0, int StreamsOut = 0,
    long Memory = 0)
{
    public static Delta Connection(Direction direction) =>
        direction == Direction.Inbound ? new Delta(ConnectionsIn: 1) : new Delta(ConnectionsOut: 1);

    public static Delta Stream(Direction direction) =>
        direction == Direction.Inbound ? new Delta(StreamsIn: 1) : new Delta(StreamsOut: 1);
}
