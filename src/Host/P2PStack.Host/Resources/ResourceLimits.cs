using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// The resource manager's limits per scope kind, with overrides for named services, protocols and peers. Build them
/// with <see cref="Scaled"/> from the memory the node may use (the default is an eighth of what the machine, or the
/// container, makes available) and change what you need with <c>with</c>:
/// <c>ResourceLimits.Scaled(1L &lt;&lt; 30) with { Peer = ... }</c>.
/// </summary>
public sealed record ResourceLimits
{
    private const long MiB = 1 << 20;
    private const long GiB = 1 << 30;

    /// <summary>Everything together.</summary>
    public required ResourceLimit System { get; init; }

    /// <summary>Connections before their peer is authenticated, streams before their protocol is negotiated.</summary>
    public required ResourceLimit Transient { get; init; }

    /// <summary>Each service (a module's own reservations) without an entry in <see cref="Services"/>.</summary>
    public required ResourceLimit Service { get; init; }

    /// <summary>Each protocol's streams, summed over all peers, without an entry in <see cref="Protocols"/>.</summary>
    public required ResourceLimit Protocol { get; init; }

    /// <summary>Each remote peer without an entry in <see cref="Peers"/>: its connections, their streams and memory.</summary>
    public required ResourceLimit Peer { get; init; }

    /// <summary>Each connection: its streams and muxer memory (yamux windows).</summary>
    public required ResourceLimit Connection { get; init; }

    /// <summary>Each stream's own memory.</summary>
    public required ResourceLimit Stream { get; init; }

    public IReadOnlyDictionary<string, ResourceLimit> Services { get; init; } = new Dictionary<string, ResourceLimit>();

    public IReadOnlyDictionary<string, ResourceLimit> Protocols { get; init; } = new Dictionary<string, ResourceLimit>();

    public IReadOnlyDictionary<PeerId, ResourceLimit> Peers { get; init; } = new Dictionary<PeerId, ResourceLimit>();

    /// <summary>What the default limits scale with: an eighth of the memory available to the process (the machine's,
    /// or a container's limit), at least 128 MiB.</summary>
    public static long DefaultMemory() => Math.Max(128 * MiB, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 8);

    /// <summary>
    /// Limits for a node that may spend <paramref name="memory"/> bytes: a base for 128 MiB plus an increase per GiB
    /// above it (go-libp2p's scaling model, with its default base values for counts). Memory limits nest: a stream's
    /// below a connection's below a peer's below the system's, which is <paramref name="memory"/> itself.
    /// </summary>
    public static ResourceLimits Scaled(long memory)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(memory, 16 * MiB);
        double gib = Math.Max(0, memory - 128 * MiB) / (double)GiB;
        int Count(int baseValue, int perGiB) => (int)Math.Min(int.MaxValue, baseValue + perGiB * gib);
        long Bytes(long baseValue, long perGiB) => Math.Min(memory, baseValue + (long)(perGiB * gib));
        return new ResourceLimits
        {
            System = new ResourceLimit
            {
                ConnectionsInbound = Count(64, 64), ConnectionsOutbound = Count(128, 128), Connections = Count(128, 128),
                StreamsInbound = Count(1024, 1024), StreamsOutbound = Count(2048, 2048), Streams = Count(2048, 2048),
                Memory = memory,
            },
            Transient = new ResourceLimit
            {
                ConnectionsInbound = Count(32, 16), ConnectionsOutbound = Count(64, 32), Connections = Count(64, 32),
                StreamsInbound = Count(128, 128), StreamsOutbound = Count(256, 256), Streams = Count(256, 256),
                Memory = Bytes(32 * MiB, 128 * MiB),
            },
            Service = new ResourceLimit
            {
                StreamsInbound = Count(1024, 512), StreamsOutbound = Count(4096, 2048), Streams = Count(4096, 2048),
                Memory = Bytes(64 * MiB, 128 * MiB),
            },
            Protocol = new ResourceLimit
            {
                StreamsInbound = Count(512, 256), StreamsOutbound = Count(2048, 512), Streams = Count(2048, 512),
                Memory = Bytes(64 * MiB, 128 * MiB),
            },
            Peer = new ResourceLimit
            {
                ConnectionsInbound = 8, ConnectionsOutbound = 8, Connections = 8,
                StreamsInbound = 256, StreamsOutbound = 512, Streams = 512,
                Memory = Bytes(64 * MiB, 128 * MiB),
            },
            Connection = new ResourceLimit
            {
                StreamsInbound = 256, StreamsOutbound = 512, Streams = 512,
                Memory = Bytes(64 * MiB, 64 * MiB),
            },
            Stream = new ResourceLimit { Memory = Bytes(16 * MiB, 16 * MiB) },
        };
    }

    /// <summary>No limit anywhere (usage is still counted and shown).</summary>
    public static ResourceLimits Unlimited { get; } = new()
    {
        System = ResourceLimit.Unlimited, Transient = ResourceLimit.Unlimited, Service = ResourceLimit.Unlimited,
        Protocol = ResourceLimit.Unlimited, Peer = ResourceLimit.Unlimited, Connection = ResourceLimit.Unlimited,
        Stream = ResourceLimit.Unlimited,
    };
}

/// <summary>The resource manager's options (<see cref="HostOptions.Resources"/>).</summary>
public sealed class ResourceManagerOptions
{
    /// <summary>The memory the default limits scale with (null: <see cref="ResourceLimits.DefaultMemory"/>).</summary>
    public long? Memory { get; set; }

    /// <summary>The limits (null: <see cref="ResourceLimits.Scaled"/> of <see cref="Memory"/>).</summary>
    public ResourceLimits? Limits { get; set; }

    /// <summary>The limits in force.</summary>
    public ResourceLimits Effective() => Limits ?? ResourceLimits.Scaled(Memory ?? ResourceLimits.DefaultMemory());
}
