using P2PStack.Addressing;

namespace P2PStack.Nat;

/// <summary>Whether other peers can dial the node (or one of its addresses) directly.</summary>
public enum Reachability
{
    Unknown,
    Public,
    Private,
}

/// <summary>AutoNAT changed its verdict on the node or on one of its addresses.</summary>
/// <param name="Node">The node's reachability: public when any address is, private when every tested one is not.</param>
/// <param name="Addresses">The verdict per tested address.</param>
public sealed record ReachabilityChanged(Reachability Node, IReadOnlyDictionary<Multiaddr, Reachability> Addresses);
