using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Conformance.Security;

/// <summary>A local identity for tests: a fresh key pair of the given type.</summary>
public sealed class TestIdentity(PrivateKey privateKey) : ILocalIdentity
{
    public PrivateKey PrivateKey { get; } = privateKey;

    public PeerId PeerId { get; } = PeerId.FromPublicKey(privateKey.PublicKey);

    public static TestIdentity Generate(KeyType type = KeyType.Ed25519) => new(Identity.PrivateKey.Generate(type));
}
