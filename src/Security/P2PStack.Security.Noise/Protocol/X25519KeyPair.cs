using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;

namespace P2PStack.Security.Noise.Protocol;

/// <summary>An X25519 key pair (Noise DH function 25519, RFC 7748).</summary>
public sealed class X25519KeyPair : IDisposable
{
    public const int KeySize = 32;

    private readonly byte[] _privateKey;
    private readonly byte[] _publicKey;

    private X25519KeyPair(byte[] privateKey)
    {
        _privateKey = privateKey;
        _publicKey = new byte[KeySize];
        X25519.ScalarMultBase(_privateKey, 0, _publicKey, 0);
    }

    public ReadOnlySpan<byte> PublicKey => _publicKey;

    internal ReadOnlySpan<byte> PrivateKey => _privateKey;

    public static X25519KeyPair Generate()
    {
        var key = new byte[KeySize];
        RandomNumberGenerator.Fill(key);
        return new X25519KeyPair(key);
    }

    /// <summary>Builds the pair from a private key (clamped by the scalar multiplication, as RFC 7748 says).</summary>
    public static X25519KeyPair FromPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != KeySize)
        {
            throw new ArgumentException($"an X25519 private key is {KeySize} bytes", nameof(privateKey));
        }

        return new X25519KeyPair(privateKey.ToArray());
    }

    /// <summary>DH(private, remote public) into <paramref name="sharedSecret"/>.</summary>
    /// <exception cref="NoiseException">The remote key is a low-order point (the result would be all zeros).</exception>
    public void Agree(ReadOnlySpan<byte> remotePublicKey, Span<byte> sharedSecret)
    {
        if (remotePublicKey.Length != KeySize)
        {
            throw new NoiseException($"an X25519 public key is {KeySize} bytes, not {remotePublicKey.Length}");
        }

        // BouncyCastle 1.8 takes arrays only; these 64 bytes per DH are handshake-time, not per frame.
        byte[] remote = remotePublicKey.ToArray();
        byte[] result = new byte[KeySize];
        try
        {
            if (!X25519.CalculateAgreement(_privateKey, 0, remote, 0, result, 0))
            {
                throw new NoiseException("the remote X25519 public key is a low-order point");
            }

            result.CopyTo(sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(result);
        }
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_privateKey);
}
