using System.Buffers;
using System.Security.Cryptography;
using Rfc8032 = Org.BouncyCastle.Math.EC.Rfc8032.Ed25519;

namespace P2PStack.Identity;

/// <summary>Ed25519 public key: Data is the 32-byte RFC 8032 encoding.</summary>
public sealed class Ed25519PublicKey : PublicKey
{
    public const int KeySize = 32;
    public const int SignatureSize = 64;

    private readonly byte[] _key;

    private Ed25519PublicKey(byte[] key) : base(key) => _key = key;

    public override KeyType Type => KeyType.Ed25519;

    internal static Ed25519PublicKey FromRaw(ReadOnlySpan<byte> data)
    {
        if (data.Length != KeySize) throw new KeyFormatException($"Ed25519 public key must be {KeySize} bytes, got {data.Length}");
        return new Ed25519PublicKey(data.ToArray());
    }

    internal static Ed25519PublicKey FromTrustedBytes(byte[] key) => new(key);

    internal byte[] KeyBytes => _key;

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != SignatureSize) return false;
        byte[] signatureArray = signature.ToArray();
        byte[] message = ArrayPool<byte>.Shared.Rent(data.Length);
        try
        {
            data.CopyTo(message);
            // RFC 8032 verification (BouncyCastle rejects non-canonical S and invalid points by returning false).
            return Rfc8032.Verify(signatureArray, 0, _key, 0, message, 0, data.Length);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(message);
        }
    }
}

/// <summary>Ed25519 private key: Data is the 32-byte seed followed by the 32-byte public key (the spec's preferred form).</summary>
public sealed class Ed25519PrivateKey : PrivateKey
{
    private const int SeedSize = 32;
    private readonly byte[] _seed;
    private readonly Ed25519PublicKey _publicKey;

    private Ed25519PrivateKey(byte[] seed)
    {
        _seed = seed;
        var publicBytes = new byte[Ed25519PublicKey.KeySize];
        Rfc8032.GeneratePublicKey(seed, 0, publicBytes, 0);
        _publicKey = Ed25519PublicKey.FromTrustedBytes(publicBytes);
    }

    public override KeyType Type => KeyType.Ed25519;
    public override PublicKey PublicKey => _publicKey;

    public static Ed25519PrivateKey Generate()
    {
        var seed = new byte[SeedSize];
        RandomNumberGenerator.Fill(seed);
        return new Ed25519PrivateKey(seed);
    }

    /// <summary>Builds a key from a 32-byte RFC 8032 seed.</summary>
    public static Ed25519PrivateKey FromSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != SeedSize) throw new ArgumentException($"Ed25519 seed must be {SeedSize} bytes", nameof(seed));
        return new Ed25519PrivateKey(seed.ToArray());
    }

    /// <summary>
    /// Accepts seed||public (64 bytes) and the legacy seed||public||public (96 bytes, both copies must agree);
    /// the public half must be the one the seed derives, so a corrupted key is refused rather than signing wrongly.
    /// </summary>
    internal static Ed25519PrivateKey FromRaw(ReadOnlySpan<byte> data)
    {
        if (data.Length == 96)
        {
            if (!CryptographicOperations.FixedTimeEquals(data.Slice(32, 32), data.Slice(64, 32)))
                throw new KeyFormatException("legacy 96-byte Ed25519 private key has two different public keys");
            data = data[..64];
        }
        if (data.Length != 64) throw new KeyFormatException($"Ed25519 private key must be 64 bytes (seed||public), got {data.Length}");
        var key = new Ed25519PrivateKey(data[..SeedSize].ToArray());
        if (!CryptographicOperations.FixedTimeEquals(key._publicKey.Raw.Span, data[SeedSize..]))
        {
            key.Dispose();
            throw new KeyFormatException("Ed25519 private key's public half does not match its seed");
        }
        return key;
    }

    public override byte[] Sign(ReadOnlySpan<byte> data)
    {
        var signature = new byte[Ed25519PublicKey.SignatureSize];
        Sign(data, signature);
        return signature;
    }

    public override int Sign(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        ThrowIfDisposed();
        if (destination.Length < Ed25519PublicKey.SignatureSize)
            throw new ArgumentException($"destination needs {Ed25519PublicKey.SignatureSize} bytes for the signature", nameof(destination));
        byte[] message = ArrayPool<byte>.Shared.Rent(data.Length);
        var signature = new byte[Ed25519PublicKey.SignatureSize];
        try
        {
            data.CopyTo(message);
            Rfc8032.Sign(_seed, 0, _publicKey.KeyBytes, 0, message, 0, data.Length, signature, 0);
            signature.CopyTo(destination);
            return signature.Length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(message);
        }
    }

    protected override byte[] ExportRaw()
    {
        var raw = new byte[64];
        _seed.CopyTo(raw, 0);
        _publicKey.Raw.Span.CopyTo(raw.AsSpan(SeedSize));
        return raw;
    }

    protected override void DisposeSecrets() => CryptographicOperations.ZeroMemory(_seed);
}
