namespace P2PStack.Protocols.GossipSub;

public sealed partial class GossipSubRouter
{
    /// <summary>Instruments the router counts duplicates and rejections on; null in bare router tests.</summary>
    internal GossipSubMetrics? Metrics { get; init; }
}
