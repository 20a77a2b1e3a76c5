namespace P2PStack.Network;

/// <summary>
/// Scoped accounting of connections, streams and memory (go-libp2p's resource manager model). Scopes form a DAG:
/// <c>system</c> above everything; <c>transient</c> for connections not yet authenticated and streams not yet
/// negotiated; <c>peer:&lt;id&gt;</c>, <c>protocol:&lt;id&gt;</c> and <c>service:&lt;name&gt;</c>; one scope per
/// connection and per stream. A reservation counts in the scope and every scope above it and is refused, with a
/// <see cref="ResourceLimitExceededException"/> naming the first scope whose limit it would cross, before anything
/// is counted.
/// </summary>
public interface IResourceManager
{
    /// <summary>The scope above all others.</summary>
    IResourceScope System { get; }

    /// <summary>A service's scope (a module's own memory: queues, stores), created on first use; counts in system.</summary>
    IResourceScope Service(string name);

    /// <summary>
    /// Usage and limits of every live scope: system, transient, services, protocols and peers by name; then
    /// connections and streams, bounded: for each kind one total row (<see cref="ResourceScopeStat.Scopes"/> set,
    /// usage summed over all of them, the limit each one has) followed by the <paramref name="top"/> largest by
    /// memory, then streams.
    /// </summary>
    /// <param name="top">How many single connections and streams to list (each kind); 0 lists only the totals.</param>
    IReadOnlyList<ResourceScopeStat> Snapshot(int top = ResourceScopeStat.DefaultTop);
}

/// <summary>A scope memory can be reserved in. Reservations count in every scope above it too.</summary>
public interface IResourceScope
{
    /// <summary>"system", "transient", "peer 12D3KooW…", "protocol /ipfs/kad/1.0.0", "connection 7", "service gossipsub".</summary>
    string Name { get; }

    /// <summary>What the scope holds now (itself and everything below it).</summary>
    ResourceUsage Usage { get; }

    /// <summary>
    /// Reserves <paramref name="bytes"/> of memory. <paramref name="priority"/> 255 may fill the limit; lower
    /// priorities only while the scopes stay below <c>limit * (priority + 1) / 256</c> (go-libp2p's rule: window
    /// growth asks with 128 and so stops at half).
    /// </summary>
    /// <exception cref="ResourceLimitExceededException">A scope's memory limit would be crossed.</exception>
    void ReserveMemory(long bytes, byte priority = 255);

    /// <summary>Like <see cref="ReserveMemory"/>, but answers false instead of throwing (the refusal is still counted).</summary>
    bool TryReserveMemory(long bytes, byte priority = 255);

    /// <summary>Returns memory reserved earlier. Releasing in a closed scope does nothing (closing released all).</summary>
    void ReleaseMemory(long bytes);
}

/// <summary>What a scope holds.</summary>
public readonly record struct ResourceUsage(int ConnectionsInbound, int ConnectionsOutbound, int StreamsInbound,
    int StreamsOutbound, long Memory)
{
    public int Connections => ConnectionsInbound + ConnectionsOutbound;

    public int Streams => StreamsInbound + StreamsOutbound;

    public bool IsZero => Connections == 0 && Streams == 0 && Memory == 0;
}

/// <summary>Limits of one scope; <see cref="int.MaxValue"/> (or <see cref="long.MaxValue"/>) means none.</summary>
public sealed record ResourceLimit
{
    public static readonly ResourceLimit Unlimited = new();

    public int ConnectionsInbound { get; init; } = int.MaxValue;

    public int ConnectionsOutbound { get; init; } = int.MaxValue;

    /// <summary>Both directions together.</summary>
    public int Connections { get; init; } = int.MaxValue;

    public int StreamsInbound { get; init; } = int.MaxValue;

    public int StreamsOutbound { get; init; } = int.MaxValue;

    /// <summary>Both directions together.</summary>
    public int Streams { get; init; } = int.MaxValue;

    /// <summary>Bytes of memory reservations.</summary>
    public long Memory { get; init; } = long.MaxValue;
}

/// <summary>One scope's usage, limits and refusals, or the total of all connection or stream scopes.</summary>
/// <param name="Kind">system, transient, service, protocol, peer, connection, stream.</param>
/// <param name="Scopes">Null for one scope. For a total row ("connections", "streams"): how many live scopes it sums;
/// its <paramref name="Limit"/> is each one's and its <paramref name="Refusals"/> their sum.</param>
public sealed record ResourceScopeStat(string Kind, string Name, ResourceUsage Usage, ResourceLimit Limit, long Refusals, int? Scopes = null)
{
    /// <summary>How many single connections and streams <see cref="IResourceManager.Snapshot"/> lists unless told.</summary>
    public const int DefaultTop = 5;
}
