using P2PStack.Discovery.Signaling;
using P2PStack.Identity;
using P2PStack.Neural;

namespace SynapticMesh.Node;

/// <summary>
/// Direct neural messages to a browser peer go through its signaling host: the hosts a swarm member without addresses
/// names in its signed presence (docs/specs/swarm-signaling.md, section 3) are the next hops the node hands such a
/// message to, and the host forwards it over its connection to the browser.
/// </summary>
internal sealed class SignalingNextHops(SwarmSignaling signaling) : INeuralNextHops
{
    public IReadOnlyList<PeerId> For(PeerId peer) => signaling.HostsOf(peer);
}
