using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using P2PStack.Transports.Memory;

namespace P2PStack.Simulation;

/// <summary>How every node of a <see cref="Simulation"/> is built and how its links behave.</summary>
public sealed class SimulationOptions
{
    /// <summary>Seeds node identities, topology, churn and link conditions.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Conditions of every link (latency, jitter, loss, faults).</summary>
    public MemoryLinkConditions Links { get; set; } = MemoryLinkConditions.Perfect;

    /// <summary>Adds the Kademlia DHT to every node (with these settings) when set.</summary>
    public Action<KademliaOptions>? Kademlia { get; set; }

    /// <summary>Adds gossipsub to every node (with these settings) when set.</summary>
    public Action<GossipSubOptions>? GossipSub { get; set; }

    /// <summary>Adds further modules to every node (after the built-in ones), e.g. the neural mesh and DAG consensus.</summary>
    public Action<IP2PBuilder, SimulationNode>? Modules { get; set; }

    /// <summary>Nodes started, bootstrapped or refreshed at once.</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>Limit of each harness step that waits on the network (a dial, a bootstrap).</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(60);

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Links);
        ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(OperationTimeout, TimeSpan.Zero);
    }
}
