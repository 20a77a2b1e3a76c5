using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>The node's key pair.</summary>
public sealed class LocalIdentity(PrivateKey privateKey) : ILocalIdentity
{
    public PrivateKey PrivateKey { get; } = privateKey;

    public PeerId PeerId { get; } = PeerId.FromPublicKey(privateKey.PublicKey);
}
