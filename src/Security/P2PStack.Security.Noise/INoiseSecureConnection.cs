using P2PStack.Network;

namespace P2PStack.Security.Noise;

/// <summary>A connection secured by one of the Noise suites: which suite, how strong, and the channel binding.</summary>
public interface INoiseSecureConnection : ISecureConnection
{
    NoiseSuite Suite { get; }

    /// <summary>The post-quantum level of the negotiated suite (Classical for <c>/noise</c>).</summary>
    PostQuantumLevel SecurityLevel { get; }

    /// <summary>The final Noise handshake hash, equal on both sides (usable as a channel binding).</summary>
    ReadOnlyMemory<byte> HandshakeHash { get; }
}
