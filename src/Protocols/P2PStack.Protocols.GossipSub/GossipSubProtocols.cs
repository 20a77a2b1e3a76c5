namespace P2PStack.Protocols.GossipSub;

/// <summary>Protocol ids of the pubsub routers, and what each version adds.</summary>
public static class GossipSubProtocols
{
    public const string FloodSub = "/floodsub/1.0.0";
    public const string MeshSubV10 = "/meshsub/1.0.0";
    public const string MeshSubV11 = "/meshsub/1.1.0";
    public const string MeshSubV12 = "/meshsub/1.2.0";

    /// <summary>Our preference order when opening a stream: newest first, floodsub last.</summary>
    public static IReadOnlyList<string> All { get; } = [MeshSubV12, MeshSubV11, MeshSubV10, FloodSub];

    /// <summary>What a negotiated protocol lets us do with the peer.</summary>
    public static PeerFeatures FeaturesOf(string protocol) => protocol switch
    {
        MeshSubV12 => PeerFeatures.Mesh | PeerFeatures.PeerExchange | PeerFeatures.IDontWant,
        MeshSubV11 => PeerFeatures.Mesh | PeerFeatures.PeerExchange,
        MeshSubV10 => PeerFeatures.Mesh,
        _ => PeerFeatures.None,
    };
}

/// <summary>Router features a peer supports, from its protocol version.</summary>
[Flags]
public enum PeerFeatures
{
    /// <summary>A floodsub peer: it gets messages of its topics and nothing else.</summary>
    None = 0,
    /// <summary>gossipsub 1.0: mesh (GRAFT/PRUNE) and gossip (IHAVE/IWANT).</summary>
    Mesh = 1,
    /// <summary>gossipsub 1.1: PRUNE carries peer exchange and backoff.</summary>
    PeerExchange = 2,
    /// <summary>gossipsub 1.2: IDONTWANT.</summary>
    IDontWant = 4,
}
