using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Discovery;

/// <summary>
/// A discovery mechanism found a peer (published on the host's event bus each time it is seen); the addresses, without
/// /p2p, are already in the peer store. <paramref name="Source"/> names the mechanism, e.g. "mdns".
/// </summary>
public sealed record PeerDiscovered(PeerId Peer, IReadOnlyList<Multiaddr> Addresses, string Source);
