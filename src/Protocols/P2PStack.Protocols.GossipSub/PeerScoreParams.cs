using System.Net;
using P2PStack.Identity;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// Global parameters of the gossipsub v1.1 score function (P5, P6, P7, topic cap, decay, retention). Defaults follow
/// js-libp2p's gossipsub so that scoring is on unless turned off with <see cref="GossipSubOptions.ScoringEnabled"/>.
/// </summary>
public sealed class PeerScoreParams
{
    /// <summary>Per-topic parameters; a topic not listed here does not contribute to scores.</summary>
    public Dictionary<string, TopicScoreParams> Topics { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Cap on the summed (weighted) topic contributions; 0 means no cap. Only positive sums are capped.</summary>
    public double TopicScoreCap { get; set; } = 10;

    /// <summary>P5: the application's own score of a peer.</summary>
    public Func<PeerId, double> AppSpecificScore { get; set; } = static _ => 0;

    public double AppSpecificWeight { get; set; } = 10;

    /// <summary>P6 weight (must be ≤ 0): penalises many peers from one IP.</summary>
    public double IPColocationFactorWeight { get; set; } = -100;

    /// <summary>Peers per IP tolerated before P6 applies (the surplus is squared).</summary>
    public int IPColocationFactorThreshold { get; set; } = 10;

    /// <summary>Networks exempt from P6. Loopback is listed by default: local test networks are not sybils.</summary>
    public List<(IPAddress Network, int PrefixLength)> IPColocationFactorWhitelist { get; set; } =
        [(IPAddress.Parse("127.0.0.0"), 8), (IPAddress.IPv6Loopback, 128)];

    /// <summary>P7 weight (must be ≤ 0); P7 is the squared excess of the penalty counter over the threshold.</summary>
    public double BehaviourPenaltyWeight { get; set; } = -10;

    public double BehaviourPenaltyThreshold { get; set; }

    /// <summary>Factor applied to the P7 counter each decay interval.</summary>
    public double BehaviourPenaltyDecay { get; set; } = 0.2;

    public TimeSpan DecayInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A decayed counter below this is set to zero.</summary>
    public double DecayToZero { get; set; } = 0.1;

    /// <summary>How long the score of a disconnected peer (if not positive) is remembered.</summary>
    public TimeSpan RetainScore { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first parameter outside the spec's constraints.</summary>
    public void Validate()
    {
        Require(TopicScoreCap >= 0, nameof(TopicScoreCap), "must be >= 0");
        Require(IPColocationFactorWeight <= 0, nameof(IPColocationFactorWeight), "must be <= 0");
        Require(IPColocationFactorWeight == 0 || IPColocationFactorThreshold >= 1, nameof(IPColocationFactorThreshold), "must be >= 1");
        Require(BehaviourPenaltyWeight <= 0, nameof(BehaviourPenaltyWeight), "must be <= 0");
        Require(BehaviourPenaltyWeight == 0 || BehaviourPenaltyDecay is > 0 and < 1, nameof(BehaviourPenaltyDecay), "must be in (0, 1)");
        Require(BehaviourPenaltyThreshold >= 0, nameof(BehaviourPenaltyThreshold), "must be >= 0");
        Require(DecayInterval >= TimeSpan.FromMilliseconds(1), nameof(DecayInterval), "must be positive");
        Require(DecayToZero is > 0 and < 1, nameof(DecayToZero), "must be in (0, 1)");
        ArgumentNullException.ThrowIfNull(AppSpecificScore);
        foreach (var (topic, parameters) in Topics)
        {
            try { parameters.Validate(); }
            catch (ArgumentException e) { throw new ArgumentException($"score parameters of topic '{topic}': {e.Message}", e); }
        }
    }

    internal static void Require(bool condition, string name, string rule)
    {
        if (!condition) throw new ArgumentException($"{name} {rule}", name);
    }
}

/// <summary>Per-topic parameters of the score function: P1, P2, P3, P3b, P4 and the topic weight.</summary>
public sealed class TopicScoreParams
{
    public double TopicWeight { get; set; } = 0.5;

    // P1: time in mesh
    public double TimeInMeshWeight { get; set; } = 1;
    public TimeSpan TimeInMeshQuantum { get; set; } = TimeSpan.FromSeconds(1);
    public double TimeInMeshCap { get; set; } = 3600;

    // P2: first message deliveries
    public double FirstMessageDeliveriesWeight { get; set; } = 1;
    public double FirstMessageDeliveriesDecay { get; set; } = 0.5;
    public double FirstMessageDeliveriesCap { get; set; } = 2000;

    // P3: mesh message delivery rate
    public double MeshMessageDeliveriesWeight { get; set; } = -1;
    public double MeshMessageDeliveriesDecay { get; set; } = 0.5;
    public double MeshMessageDeliveriesCap { get; set; } = 100;
    public double MeshMessageDeliveriesThreshold { get; set; } = 20;
    public TimeSpan MeshMessageDeliveriesWindow { get; set; } = TimeSpan.FromMilliseconds(10);
    public TimeSpan MeshMessageDeliveriesActivation { get; set; } = TimeSpan.FromSeconds(5);

    // P3b: mesh message delivery failures
    public double MeshFailurePenaltyWeight { get; set; } = -1;
    public double MeshFailurePenaltyDecay { get; set; } = 0.5;

    // P4: invalid messages
    public double InvalidMessageDeliveriesWeight { get; set; } = -1;
    public double InvalidMessageDeliveriesDecay { get; set; } = 0.3;

    public void Validate()
    {
        static void Require(bool c, string n, string r) => PeerScoreParams.Require(c, n, r);
        Require(TopicWeight >= 0, nameof(TopicWeight), "must be >= 0");
        Require(TimeInMeshQuantum > TimeSpan.Zero, nameof(TimeInMeshQuantum), "must be positive");
        Require(TimeInMeshWeight >= 0, nameof(TimeInMeshWeight), "must be >= 0");
        Require(TimeInMeshWeight == 0 || TimeInMeshCap > 0, nameof(TimeInMeshCap), "must be positive");
        Require(FirstMessageDeliveriesWeight >= 0, nameof(FirstMessageDeliveriesWeight), "must be >= 0");
        Require(FirstMessageDeliveriesWeight == 0 || FirstMessageDeliveriesDecay is > 0 and < 1, nameof(FirstMessageDeliveriesDecay), "must be in (0, 1)");
        Require(FirstMessageDeliveriesWeight == 0 || FirstMessageDeliveriesCap > 0, nameof(FirstMessageDeliveriesCap), "must be positive");
        Require(MeshMessageDeliveriesWeight <= 0, nameof(MeshMessageDeliveriesWeight), "must be <= 0");
        if (MeshMessageDeliveriesWeight != 0)
        {
            Require(MeshMessageDeliveriesDecay is > 0 and < 1, nameof(MeshMessageDeliveriesDecay), "must be in (0, 1)");
            Require(MeshMessageDeliveriesCap > 0, nameof(MeshMessageDeliveriesCap), "must be positive");
            Require(MeshMessageDeliveriesThreshold > 0 && MeshMessageDeliveriesThreshold <= MeshMessageDeliveriesCap,
                nameof(MeshMessageDeliveriesThreshold), "must be positive and at most the cap");
            Require(MeshMessageDeliveriesWindow >= TimeSpan.Zero, nameof(MeshMessageDeliveriesWindow), "must be >= 0");
            Require(MeshMessageDeliveriesActivation >= TimeSpan.FromSeconds(1), nameof(MeshMessageDeliveriesActivation), "must be at least 1 second");
        }
        Require(MeshFailurePenaltyWeight <= 0, nameof(MeshFailurePenaltyWeight), "must be <= 0");
        Require(MeshFailurePenaltyWeight == 0 || MeshFailurePenaltyDecay is > 0 and < 1, nameof(MeshFailurePenaltyDecay), "must be in (0, 1)");
        Require(InvalidMessageDeliveriesWeight <= 0, nameof(InvalidMessageDeliveriesWeight), "must be <= 0");
        Require(InvalidMessageDeliveriesDecay is > 0 and < 1, nameof(InvalidMessageDeliveriesDecay), "must be in (0, 1)");
    }
}

/// <summary>Score thresholds and what each gates (gossipsub v1.1, "Score Thresholds").</summary>
public sealed class PeerScoreThresholds
{
    /// <summary>Below it: no gossip to the peer, its IHAVE/IWANT are ignored. Must be ≤ 0.</summary>
    public double GossipThreshold { get; set; } = -10;

    /// <summary>Below it: our own messages are not (flood) published to the peer. Must be ≤ gossip threshold.</summary>
    public double PublishThreshold { get; set; } = -50;

    /// <summary>Below it: every RPC from the peer is ignored. Must be ≤ publish threshold.</summary>
    public double GraylistThreshold { get; set; } = -80;

    /// <summary>PX from a pruning peer is used only when its score is at least this. Must be ≥ 0.</summary>
    public double AcceptPXThreshold { get; set; } = 10;

    /// <summary>When the median mesh score falls below this, better peers are grafted opportunistically. Must be ≥ 0.</summary>
    public double OpportunisticGraftThreshold { get; set; } = 20;

    public void Validate()
    {
        static void Require(bool c, string n, string r) => PeerScoreParams.Require(c, n, r);
        Require(GossipThreshold <= 0, nameof(GossipThreshold), "must be <= 0");
        Require(PublishThreshold <= GossipThreshold, nameof(PublishThreshold), "must be <= GossipThreshold");
        Require(GraylistThreshold <= PublishThreshold, nameof(GraylistThreshold), "must be <= PublishThreshold");
        Require(AcceptPXThreshold >= 0, nameof(AcceptPXThreshold), "must be >= 0");
        Require(OpportunisticGraftThreshold >= 0, nameof(OpportunisticGraftThreshold), "must be >= 0");
    }
}
