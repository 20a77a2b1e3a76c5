using System.Buffers.Binary;
using System.Security.Cryptography;

namespace P2PStack.Security.Noise.Protocol;

/// <summary>
/// Noise CipherState with ChaChaPoly: key k and 64-bit nonce n (Noise spec rev 34, sections 5.1 and 12.3).
/// The nonce is 4 zero bytes followed by n little-endian. Encryption may run in place (plaintext and ciphertext
/// starting at the same address); partial overlap is not allowed.
/// </summary>
public sealed class CipherState : IDisposable
{
    public const int KeySize = 32;
    public const int TagSize = 16;
    private const int NonceSize = 12;

    private ChaCha20Poly1305? _aead;
    private ulong _nonce;

    /// <summary>Whether a key is set; without one, Encrypt and Decrypt pass data through (handshake start).</summary>
    public bool HasKey => _aead is not null;

    /// <summary>The nonce the next operation uses.</summary>
    public ulong Nonce => _nonce;

    public void InitializeKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"a ChaChaPoly key is {KeySize} bytes", nameof(key));
        }

        _aead?.Dispose();
        _aead = new ChaCha20Poly1305(key);
        _nonce = 0;
    }

    /// <summary>Bytes a ciphertext has beyond its plaintext with the current key state.</summary>
    public int Overhead => HasKey ? TagSize : 0;

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (plaintext length plus tag).</summary>
    /// <returns>Bytes written.</returns>
    public int EncryptWithAd(ReadOnlySpan<byte> ad, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext)
    {
        if (_aead is null)
        {
            plaintext.CopyTo(ciphertext);
            return plaintext.Length;
        }

        int length = plaintext.Length + TagSize;
        if (ciphertext.Length < length)
        {
            throw new ArgumentException("ciphertext buffer too small", nameof(ciphertext));
        }

        Span<byte> nonce = stackalloc byte[NonceSize];
        NextNonce(nonce);
        _aead.Encrypt(nonce, plaintext, ciphertext[..plaintext.Length], ciphertext.Slice(plaintext.Length, TagSize), ad);
        return length;
    }

    /// <summary>Decrypts and authenticates <paramref name="ciphertext"/> into <paramref name="plaintext"/>.</summary>
    /// <returns>Plaintext bytes written.</returns>
    /// <exception cref="NoiseException">The ciphertext is shorter than a tag or its tag does not verify.</exception>
    public int DecryptWithAd(ReadOnlySpan<byte> ad, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext)
    {
        if (_aead is null)
        {
            ciphertext.CopyTo(plaintext);
            return ciphertext.Length;
        }

        if (ciphertext.Length < TagSize)
        {
            throw new NoiseException($"ciphertext of {ciphertext.Length} bytes is shorter than the {TagSize}-byte tag");
        }

        int length = ciphertext.Length - TagSize;
        if (plaintext.Length < length)
        {
            throw new ArgumentException("plaintext buffer too small", nameof(plaintext));
        }

        Span<byte> nonce = stackalloc byte[NonceSize];
        NextNonce(nonce);
        try
        {
            _aead.Decrypt(nonce, ciphertext[..length], ciphertext[length..], plaintext[..length], ad);
        }
        catch (AuthenticationTagMismatchException e)
        {
            throw new NoiseException("authentication tag mismatch: the message was altered or the keys differ", e);
        }

        return length;
    }

    private void NextNonce(Span<byte> nonce)
    {
        // 2^64-1 is reserved by the spec; a connection must end before reaching it.
        if (_nonce == ulong.MaxValue)
        {
            throw new NoiseException("nonce exhausted: the connection must be re-established");
        }

        nonce[..4].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], _nonce);
        _nonce++;
    }

    public void Dispose()
    {
        _aead?.Dispose();
        _aead = null;
    }
}
