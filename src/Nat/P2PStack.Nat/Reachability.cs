using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Nat;

/// <summary>AutoNAT changed its verdict on the node or on one of its addresses.</summary>
/// <param name="Node">The node's reachability: public when any address is, private when every tested one is not.</param>
/// <param name="Addresses">The verdict per tested address.</param>
public sealed record ReachabilityChanged(Reachability Node, IReadOnlyDictionary<Multiaddr, Reachability> Addresses);
