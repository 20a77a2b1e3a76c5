using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>Per-message settings; unset values come from <see cref="NeuralMeshOptions"/>.</summary>
public sealed record SendOptions
{
    /// <summary>0 (lowest) to 10 (highest).</summary>
    public int? Priority { get; init; }

    /// <summary>Lifetime from creation (whole seconds, at least 1).</summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>Most forwarding hops.</summary>
    public int? HopLimit { get; init; }

    /// <summary>The sending agent; must be registered on this node. Null: the node itself.</summary>
    public string? FromAgent { get; init; }

    /// <summary>For a response: the id of the command it answers (required for responses, refused otherwise).</summary>
    public NeuralMessageId? CorrelationId { get; init; }

    /// <summary>Seal the body end to end to the recipient (true: fail if it has no sealing key; false: send in the
    /// clear). Null: <see cref="NeuralMeshOptions.SealByDefault"/>. Swarm messages are never sealed.</summary>
    public bool? Seal { get; init; }
}

/// <summary>A message accepted into a send queue; <see cref="Sent"/> completes when it is written to the stream.</summary>
public sealed record PostedMessage(NeuralMessageId Id, PeerId? Peer, Task Sent)
{
    /// <summary>The body went sealed end to end to the recipient.</summary>
    public bool Sealed { get; init; }
}

/// <summary>Counters and queue depths of a mesh (for status and tests).</summary>
public sealed record NeuralMeshStats(
    IReadOnlyDictionary<string, long> SentByType,
    IReadOnlyDictionary<string, long> ReceivedByType,
    IReadOnlyDictionary<string, long> DroppedByTypeAndReason,
    long Forwarded,
    IReadOnlyDictionary<string, int> QueueDepthByPeer,
    int InboundQueueDepth,
    int PendingCommands,
    int ReplayCacheEntries,
    IReadOnlyList<string> Agents,
    IReadOnlyList<string> Swarms);
