namespace P2PStack.Security.Noise.Protocol;

/// <summary>
/// The KEM of a Noise HFS suite (the part after '+' in the DH field, e.g. <c>25519+MLKEM768</c>): the e1 token
/// carries a fresh public key, the ekem1 token the ciphertext encapsulated to it.
/// </summary>
public interface INoiseKem
{
    /// <summary>The name in the Noise protocol name, e.g. <c>MLKEM768</c>.</summary>
    string Name { get; }

    int PublicKeyLength { get; }

    int CiphertextLength { get; }

    int SharedSecretLength { get; }

    /// <summary>A fresh ephemeral key pair for one handshake.</summary>
    INoiseKemKeyPair GenerateKeyPair();

    /// <summary>Encapsulates to <paramref name="publicKey"/>.</summary>
    /// <exception cref="NoiseException">The public key is malformed (length or encoding check).</exception>
    void Encapsulate(ReadOnlySpan<byte> publicKey, Span<byte> ciphertext, Span<byte> sharedSecret);
}

/// <summary>An ephemeral KEM key pair (the e1 key).</summary>
public interface INoiseKemKeyPair : IDisposable
{
    ReadOnlySpan<byte> PublicKey { get; }

    /// <exception cref="NoiseException">The ciphertext has the wrong length.</exception>
    void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret);
}
