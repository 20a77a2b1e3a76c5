using System.Security.Cryptography;

namespace P2PStack.Identity;

/// <summary>
/// RSA public key: Data is the DER SubjectPublicKeyInfo. Sizes from <see cref="MinBits"/> to <see cref="MaxBits"/>
/// (the upper bound caps what a peer can make us spend on verification). Signatures are PKCS#1 v1.5 over SHA-256.
/// </summary>
public sealed class RsaPublicKey : PublicKey
{
    /// <summary>Smallest modulus the peer-ids spec allows.</summary>
    public const int MinBits = 2048;
    /// <summary>Largest modulus accepted (go-libp2p's bound).</summary>
    public const int MaxBits = 8192;

    private readonly RSA _key;
    private readonly Lock _gate = new();

    private RsaPublicKey(RSA key) : base(key.ExportSubjectPublicKeyInfo()) => _key = key;

    public override KeyType Type => KeyType.Rsa;

    /// <summary>Modulus size in bits.</summary>
    public int KeySize => _key.KeySize;

    internal static RsaPublicKey FromRsa(RSA key) => new(key);

    internal static RsaPublicKey FromRaw(ReadOnlySpan<byte> data)
    {
        var key = RSA.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(data, out int read);
            if (read != data.Length) throw new KeyFormatException($"RSA public key has {data.Length - read} bytes after the DER structure");
            RsaBounds.Require(key.KeySize, "public");
            return new RsaPublicKey(key);
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            key.Dispose();
            throw new KeyFormatException($"RSA public key is not a valid DER SubjectPublicKeyInfo: {e.Message}", e);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != (_key.KeySize + 7) / 8) return false;
        try
        {
            lock (_gate) return _key.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}

/// <summary>RSA private key: Data is the DER PKCS#1 RSAPrivateKey.</summary>
public sealed class RsaPrivateKey : PrivateKey
{
    private readonly RSA _key;
    private readonly RsaPublicKey _publicKey;
    private readonly Lock _gate = new();

    private RsaPrivateKey(RSA key)
    {
        _key = key;
        var publicOnly = RSA.Create();
        publicOnly.ImportSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);
        _publicKey = RsaPublicKey.FromRsa(publicOnly);
    }

    public override KeyType Type => KeyType.Rsa;
    public override PublicKey PublicKey => _publicKey;

    /// <summary>Creates a key of <paramref name="bits"/> bits (2048 to 8192).</summary>
    public static RsaPrivateKey Generate(int bits = 2048)
    {
        if (bits < RsaPublicKey.MinBits || bits > RsaPublicKey.MaxBits)
            throw new ArgumentOutOfRangeException(nameof(bits), bits, $"RSA keys must be {RsaPublicKey.MinBits} to {RsaPublicKey.MaxBits} bits");
        return new RsaPrivateKey(RSA.Create(bits));
    }

    internal static RsaPrivateKey FromRaw(ReadOnlySpan<byte> data)
    {
        var key = RSA.Create();
        try
        {
            key.ImportRSAPrivateKey(data, out int read);
            if (read != data.Length) throw new KeyFormatException($"RSA private key has {data.Length - read} bytes after the DER structure");
            RsaBounds.Require(key.KeySize, "private");
            return new RsaPrivateKey(key);
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            key.Dispose();
            throw new KeyFormatException($"RSA private key is not a valid DER PKCS#1 RSAPrivateKey: {e.Message}", e);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    public override byte[] Sign(ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        lock (_gate) return _key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    protected override byte[] ExportRaw()
    {
        lock (_gate) return _key.ExportRSAPrivateKey();
    }

    protected override void DisposeSecrets() => _key.Dispose();
}

internal static class RsaBounds
{
    public static void Require(int bits, string which)
    {
        if (bits < RsaPublicKey.MinBits) throw new KeyFormatException($"RSA {which} key has {bits} bits, fewer than the {RsaPublicKey.MinBits} required");
        if (bits > RsaPublicKey.MaxBits) throw new KeyFormatException($"RSA {which} key has {bits} bits, more than the {RsaPublicKey.MaxBits} accepted");
    }
}
