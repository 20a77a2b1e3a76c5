using P2PStack.Consensus.Dag;

namespace P2PStack.Simulation.Dag;

/// <summary>What a byzantine voter does (see <see cref="ByzantineNode"/>).</summary>
public enum ByzantineKind
{
    /// <summary>Answers every query with random votes.</summary>
    RandomVoter,
    /// <summary>Votes for both sides: answers each querier with the side of each conflict that has the fewest honest
    /// supporters right now (the balancing attack, with a global view), and one answer in four marks both sides at once.</summary>
    BothSides,
    /// <summary>Votes honestly but never serves a vertex or its frontier, pushes nothing, and announces vertices (on
    /// honest conflict keys, and children of them) that it never hands out.</summary>
    Withholder,
    /// <summary>Votes honestly but signs two conflicting vertices per conflict (one honest key and one of its own) and
    /// pushes each to half of the honest nodes.</summary>
    Equivocator,
}

/// <summary>One run of the in-process model (<see cref="DagModel"/>).</summary>
public sealed class DagModelOptions
{
    public int Nodes { get; set; } = 50;

    /// <summary>Seeds identities, the byzantine choice, proposals, sampling and link jitter.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>One-way delay of every message.</summary>
    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>Extra delay drawn uniformly from [0, jitter) per message (messages between two nodes may then reorder).</summary>
    public TimeSpan Jitter { get; set; }

    /// <summary>Fraction of nodes that are byzantine, split evenly over <see cref="ByzantineKinds"/>.</summary>
    public double ByzantineFraction { get; set; }

    public IReadOnlyList<ByzantineKind> ByzantineKinds { get; set; } = [];

    /// <summary>Conflict keys contested by honest proposals.</summary>
    public int ConflictSets { get; set; } = 4;

    /// <summary>Conflicting proposals per contested key, each injected at a different honest node at the same moment.</summary>
    public int ProposalsPerConflict { get; set; } = 2;

    /// <summary>Proposals without conflict keys, at random honest nodes.</summary>
    public int VirtuousProposals { get; set; } = 8;

    /// <summary>When the proposals are injected (after the start-up sync).</summary>
    public TimeSpan InjectAt { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Proposals are spread uniformly over this window from <see cref="InjectAt"/> (zero: all at once).</summary>
    public TimeSpan InjectionWindow { get; set; }

    /// <summary>The run stops (not live) when proposals are still undecided this long after the start.</summary>
    public TimeSpan TimeLimit { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>Wrap every message in a signed neural envelope (real Ed25519 signing and verification of each
    /// message, as the node does); vertices are always signed and verified.</summary>
    public bool SignEnvelopes { get; set; }

    /// <summary>One real check (signature and structure) per distinct vertex envelope, its outcome shared by the engines
    /// that receive the same bytes (<see cref="SharedVertexOpener"/>); false: every engine checks every envelope itself.
    /// Both give the same run; sharing saves N - 1 signature checks per vertex.</summary>
    public bool ShareVertexChecks { get; set; } = true;

    /// <summary>Hand each receiver the message object the sender built (read only, as engines treat received messages),
    /// counting its encoded size, instead of encoding it to protobuf bytes and parsing them back; false: every message
    /// travels as bytes. Both give the same run (a message the model's nodes build parses back to an equal one); sharing
    /// saves an encoding and a parse per vote and per query. Ignored with <see cref="SignEnvelopes"/> (always bytes).</summary>
    public bool ShareMessages { get; set; } = true;

    /// <summary>Consensus parameters of every node (Avalanche defaults unless changed).</summary>
    public Action<DagConsensusOptions>? Consensus { get; set; }

    public int PayloadBytes { get; set; } = 32;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Nodes, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(Latency, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(Jitter, TimeSpan.Zero);
        if (ByzantineFraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(ByzantineFraction));
        if (ByzantineFraction > 0 && ByzantineKinds.Count == 0) throw new ArgumentException("byzantine nodes need at least one kind");
        ArgumentOutOfRangeException.ThrowIfNegative(ConflictSets);
        ArgumentOutOfRangeException.ThrowIfLessThan(ProposalsPerConflict, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(VirtuousProposals);
        ArgumentOutOfRangeException.ThrowIfLessThan(PayloadBytes, 8);
    }
}
