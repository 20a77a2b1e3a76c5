using System.Security.Cryptography;

namespace P2PStack.Security.Noise.Protocol;

/// <summary>Noise SymmetricState over SHA-256 (chaining key, handshake hash and the handshake CipherState).</summary>
public sealed class SymmetricState : IDisposable
{
    public const int HashLength = 32;

    private readonly byte[] _chainingKey = new byte[HashLength];
    private readonly byte[] _hash = new byte[HashLength];
    private readonly IncrementalHash _hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly CipherState _cipher = new();

    public SymmetricState(string protocolName)
    {
        int nameLength = System.Text.Encoding.ASCII.GetByteCount(protocolName);
        if (nameLength <= HashLength)
        {
            System.Text.Encoding.ASCII.GetBytes(protocolName, _hash); // zero-padded to HASHLEN
        }
        else
        {
            SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(protocolName), _hash);
        }

        _hash.CopyTo(_chainingKey, 0);
    }

    /// <summary>The handshake hash h (channel binding value once the handshake is done).</summary>
    public ReadOnlySpan<byte> HandshakeHash => _hash;

    public bool HasKey => _cipher.HasKey;

    /// <summary>Bytes EncryptAndHash adds with the current key state (0 or the tag).</summary>
    public int Overhead => _cipher.Overhead;

    public void MixKey(ReadOnlySpan<byte> inputKeyMaterial)
    {
        Span<byte> tempKey = stackalloc byte[HashLength];
        Hkdf2(_chainingKey, inputKeyMaterial, _chainingKey, tempKey);
        _cipher.InitializeKey(tempKey);
        CryptographicOperations.ZeroMemory(tempKey);
    }

    public void MixHash(ReadOnlySpan<byte> data)
    {
        _hasher.AppendData(_hash);
        _hasher.AppendData(data);
        _hasher.GetHashAndReset(_hash);
    }

    /// <summary>Encrypts with h as associated data and mixes the ciphertext into h.</summary>
    public int EncryptAndHash(ReadOnlySpan<byte> plaintext, Span<byte> ciphertext)
    {
        int written = _cipher.EncryptWithAd(_hash, plaintext, ciphertext);
        MixHash(ciphertext[..written]);
        return written;
    }

    /// <summary>Decrypts with h as associated data and mixes the ciphertext into h.</summary>
    /// <remarks>The plaintext must not overlap the ciphertext: h is computed over the ciphertext afterwards.</remarks>
    public int DecryptAndHash(ReadOnlySpan<byte> ciphertext, Span<byte> plaintext)
    {
        int written = _cipher.DecryptWithAd(_hash, ciphertext, plaintext);
        MixHash(ciphertext);
        return written;
    }

    /// <summary>Derives the two transport CipherStates: the first for initiator to responder.</summary>
    public (CipherState InitiatorToResponder, CipherState ResponderToInitiator) Split()
    {
        Span<byte> k1 = stackalloc byte[HashLength];
        Span<byte> k2 = stackalloc byte[HashLength];
        Hkdf2(_chainingKey, ReadOnlySpan<byte>.Empty, k1, k2);
        var c1 = new CipherState();
        var c2 = new CipherState();
        c1.InitializeKey(k1);
        c2.InitializeKey(k2);
        CryptographicOperations.ZeroMemory(k1);
        CryptographicOperations.ZeroMemory(k2);
        return (c1, c2);
    }

    /// <summary>
    /// Noise HKDF with two outputs: temp = HMAC(ck, ikm); out1 = HMAC(temp, 0x01); out2 = HMAC(temp, out1 || 0x02).
    /// <paramref name="output1"/> may alias <paramref name="chainingKey"/>.
    /// </summary>
    internal static void Hkdf2(ReadOnlySpan<byte> chainingKey, ReadOnlySpan<byte> inputKeyMaterial,
        Span<byte> output1, Span<byte> output2)
    {
        Span<byte> tempKey = stackalloc byte[HashLength];
        Span<byte> first = stackalloc byte[HashLength];
        Span<byte> block = stackalloc byte[HashLength + 1];
        HMACSHA256.HashData(chainingKey, inputKeyMaterial, tempKey);

        block[0] = 0x01;
        HMACSHA256.HashData(tempKey, block[..1], first);
        first.CopyTo(block);
        block[HashLength] = 0x02;
        HMACSHA256.HashData(tempKey, block, output2);
        first.CopyTo(output1);

        CryptographicOperations.ZeroMemory(tempKey);
        CryptographicOperations.ZeroMemory(first);
        CryptographicOperations.ZeroMemory(block);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_chainingKey);
        _hasher.Dispose();
        _cipher.Dispose();
    }
}
