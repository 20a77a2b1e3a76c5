using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>
/// Names the peers that forward direct messages to a peer this node cannot dial: a browser peer is reachable only
/// through the signaling host it is connected to, which forwards a neural message for it over that connection
/// (docs/specs/neural.md, "Receiving", step 10). Registered in DI; <see cref="NeuralMesh"/> asks every one when it
/// has no connection to a destination.
/// </summary>
public interface INeuralNextHops
{
    /// <summary>The peers to hand a message for <paramref name="peer"/> to, or empty when the peer is dialed directly.</summary>
    IReadOnlyList<PeerId> For(PeerId peer);
}
