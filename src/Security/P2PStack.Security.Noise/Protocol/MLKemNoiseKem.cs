using System.Security.Cryptography;
using P2PStack.Crypto.MLKem;

namespace P2PStack.Security.Noise.Protocol;

/// <summary>
/// ML-KEM (FIPS 203) as the KEM of a Noise HFS suite. Uses the platform implementation where the OS has one,
/// else the managed one (identical results).
/// </summary>
public sealed class MLKemNoiseKem : INoiseKem
{
    private MLKemNoiseKem(MLKemAlgorithm algorithm, string name)
    {
        Algorithm = algorithm;
        Name = name;
    }

    /// <summary>ML-KEM-512 (NIST level 1).</summary>
    public static MLKemNoiseKem MLKem512 { get; } = new(MLKemAlgorithm.MLKem512, "MLKEM512");

    /// <summary>ML-KEM-768 (NIST level 3), as in the libp2p draft suite.</summary>
    public static MLKemNoiseKem MLKem768 { get; } = new(MLKemAlgorithm.MLKem768, "MLKEM768");

    /// <summary>ML-KEM-1024 (NIST level 5).</summary>
    public static MLKemNoiseKem MLKem1024 { get; } = new(MLKemAlgorithm.MLKem1024, "MLKEM1024");

    public MLKemAlgorithm Algorithm { get; }

    /// <summary>The KEM's name in the Noise protocol name, <c>MLKEM768</c> as the js-libp2p draft implementation and its vectors spell it.</summary>
    public string Name { get; }

    public int PublicKeyLength => Algorithm.EncapsulationKeySizeInBytes;

    public int CiphertextLength => Algorithm.CiphertextSizeInBytes;

    public int SharedSecretLength => Algorithm.SharedSecretSizeInBytes;

    public INoiseKemKeyPair GenerateKeyPair() => new KeyPair(MLKemFactory.GenerateKey(Algorithm));

    public void Encapsulate(ReadOnlySpan<byte> publicKey, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        using var key = ImportRemoteKey(Algorithm, publicKey);
        key.Encapsulate(ciphertext, sharedSecret);
    }

    /// <summary>Imports a peer's encapsulation key with the FIPS 203 checks, as a <see cref="NoiseException"/> on failure.</summary>
    internal static System.Security.Cryptography.MLKem ImportRemoteKey(MLKemAlgorithm algorithm, ReadOnlySpan<byte> publicKey)
    {
        try
        {
            return MLKemFactory.ImportEncapsulationKey(algorithm, publicKey);
        }
        catch (CryptographicException e)
        {
            throw new NoiseException($"invalid {algorithm.Name} encapsulation key: {e.Message}", e);
        }
    }

    /// <summary>An ephemeral ML-KEM key pair; wraps any <see cref="System.Security.Cryptography.MLKem"/> holding a decapsulation key.</summary>
    public sealed class KeyPair : INoiseKemKeyPair
    {
        private readonly System.Security.Cryptography.MLKem _key;
        private readonly byte[] _publicKey;

        public KeyPair(System.Security.Cryptography.MLKem key)
        {
            _key = key;
            _publicKey = key.ExportEncapsulationKey();
        }

        public ReadOnlySpan<byte> PublicKey => _publicKey;

        public void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret)
        {
            if (ciphertext.Length != _key.Algorithm.CiphertextSizeInBytes)
            {
                throw new NoiseException(
                    $"{_key.Algorithm.Name} ciphertext must be {_key.Algorithm.CiphertextSizeInBytes} bytes, not {ciphertext.Length}");
            }

            _key.Decapsulate(ciphertext, sharedSecret);
        }

        public void Dispose() => _key.Dispose();
    }
}
