using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Protocols.Identify;

/// <summary>What a peer told us about itself, after validation.</summary>
public sealed record IdentifyInfo(
    PeerId Peer,
    PublicKey? PublicKey,
    string? ProtocolVersion,
    string? AgentVersion,
    IReadOnlyList<Multiaddr> ListenAddresses,
    IReadOnlyList<string> Protocols,
    Multiaddr? ObservedAddress,
    SignedEnvelope? SignedPeerRecord)
{
    /// <summary>Whether <see cref="Protocols"/> replaced the peer's protocols in the peer store (an answer with neither
    /// protocols nor a key leaves them).</summary>
    internal bool ProtocolsStored { get; init; }
}
