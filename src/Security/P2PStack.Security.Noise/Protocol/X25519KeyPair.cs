using P2PStack.Crypto.MLKem;

namespace P2PStack.Security.Noise.Protocol;

/// <summary>
/// An X25519 key pair (Noise DH function 25519, RFC 7748), computed by <see cref="X25519Key"/> (OpenSSL's libcrypto
/// where it loads, else BouncyCastle): a generated key is made inside the implementation and kept there, so the
/// ephemeral key's two agreements and the cached static key's many cost one scalar multiplication each.
/// </summary>
public sealed class X25519KeyPair : IDisposable
{
    public const int KeySize = X25519Key.KeySize;

    private readonly X25519Key _key;

    private X25519KeyPair(X25519Key key) => _key = key;

    public ReadOnlySpan<byte> PublicKey => _key.PublicKey;

    public static X25519KeyPair Generate() => new(X25519Key.Generate());

    /// <summary>Builds the pair from a private key (clamped by the scalar multiplication, as RFC 7748 says).</summary>
    public static X25519KeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != KeySize)
        {
            throw new ArgumentException($"an X25519 private key is {KeySize} bytes", nameof(privateKey));
        }

        return new X25519KeyPair(X25519Key.Import(privateKey));
    }

    /// <summary>DH(private, remote public) into <paramref name="sharedSecret"/>.</summary>
    /// <exception cref="NoiseException">The remote key is a low-order point (the result would be all zeros).</exception>
    public void Agree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
    {
        if (remotePublicKey.Length != KeySize)
        {
            throw new NoiseException($"an X25519 public key is {KeySize} bytes, not {remotePublicKey.Length}");
        }

        if (!_key.Agree(remotePublicKey, sharedSecret[..KeySize]))
        {
            sharedSecret[..KeySize].Clear();
            throw new NoiseException("the remote X25519 public key is a low-order point");
        }
    }

    public void Dispose() => _key.Dispose();
}
