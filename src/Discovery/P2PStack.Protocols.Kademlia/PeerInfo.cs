using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia;

/// <summary>A peer and the addresses it can be reached at (go's AddrInfo).</summary>
public sealed record PeerInfo(PeerId Peer, IReadOnlyList<Multiaddr> Addresses)
{
    public override string ToString() => $"{Peer} [{string.Join(", ", Addresses)}]";
}
