using System.Security.Cryptography;

namespace P2PStack.Identity;

/// <summary>
/// ECDSA public key (NIST P-256, P-384 or P-521): Data is the DER SubjectPublicKeyInfo, re-encoded canonically
/// (named curve, uncompressed point). Signatures are DER over SHA-256 whatever the curve, as in go-libp2p.
/// </summary>
public sealed class EcdsaPublicKey : PublicKey
{
    private readonly ECDsa _key;
    private readonly Lock _gate = new();

    private EcdsaPublicKey(ECDsa key) : base(key.ExportSubjectPublicKeyInfo()) => _key = key;

    public override KeyType Type => KeyType.Ecdsa;

    internal static EcdsaPublicKey FromEcdsa(ECDsa key) => new(key);

    internal static EcdsaPublicKey FromRaw(ReadOnlySpan<byte> data)
    {
        // Check the curve before the platform sees the key: unknown or explicit curves never reach OpenSSL.
        EcdsaCurves.RequireSupportedSubjectPublicKeyInfo(data);
        var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(data, out int read);
            if (read != data.Length) throw new KeyFormatException($"ECDSA public key has {data.Length - read} bytes after the DER structure");
            EcdsaCurves.RequireSupported(key);
            return new EcdsaPublicKey(key);
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            key.Dispose();
            throw new KeyFormatException($"ECDSA public key is not a valid DER SubjectPublicKeyInfo: {e.Message}", e);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length is 0 or > 160) return false;
        try
        {
            lock (_gate) return _key.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}

/// <summary>ECDSA private key: Data is the DER SEC1 ECPrivateKey (RFC 5915), as go-libp2p writes it.</summary>
public sealed class EcdsaPrivateKey : PrivateKey
{
    private readonly ECDsa _key;
    private readonly EcdsaPublicKey _publicKey;
    private readonly Lock _gate = new();

    private EcdsaPrivateKey(ECDsa key)
    {
        _key = key;
        var publicOnly = ECDsa.Create();
        publicOnly.ImportSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);
        _publicKey = EcdsaPublicKey.FromEcdsa(publicOnly);
    }

    public override KeyType Type => KeyType.Ecdsa;
    public override PublicKey PublicKey => _publicKey;

    /// <summary>Creates a P-256 key (go-libp2p's default curve).</summary>
    public static EcdsaPrivateKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    internal static EcdsaPrivateKey FromRaw(ReadOnlySpan<byte> data)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportECPrivateKey(data, out int read);
            if (read != data.Length) throw new KeyFormatException($"ECDSA private key has {data.Length - read} bytes after the DER structure");
            EcdsaCurves.RequireSupported(key);
            return new EcdsaPrivateKey(key);
        }
        catch (Exception e) when (e is CryptographicException or PlatformNotSupportedException)
        {
            key.Dispose();
            throw new KeyFormatException($"ECDSA private key is not a valid DER SEC1 ECPrivateKey: {e.Message}", e);
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
        lock (_gate) return _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }

    protected override byte[] ExportRaw()
    {
        lock (_gate) return _key.ExportECPrivateKey();
    }

    protected override void DisposeSecrets() => _key.Dispose();
}

internal static class EcdsaCurves
{
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private static readonly string[] SupportedOids = ["1.2.840.10045.3.1.7", "1.3.132.0.34", "1.3.132.0.35"]; // P-256, P-384, P-521

    /// <summary>Reads the algorithm identifier of a DER SubjectPublicKeyInfo and requires id-ecPublicKey on a supported named curve.</summary>
    public static void RequireSupportedSubjectPublicKeyInfo(ReadOnlySpan<byte> data)
    {
        string algorithm, curve;
        try
        {
            var reader = new System.Formats.Asn1.AsnReader(data.ToArray(), System.Formats.Asn1.AsnEncodingRules.DER);
            var spki = reader.ReadSequence();
            var algorithmIdentifier = spki.ReadSequence();
            algorithm = algorithmIdentifier.ReadObjectIdentifier();
            if (!algorithmIdentifier.HasData) throw new KeyFormatException("ECDSA public key names no curve (explicit or missing parameters are not accepted)");
            if (algorithmIdentifier.PeekTag() != System.Formats.Asn1.Asn1Tag.ObjectIdentifier)
                throw new KeyFormatException("ECDSA public key uses explicit curve parameters; only named curves are accepted");
            curve = algorithmIdentifier.ReadObjectIdentifier();
        }
        catch (System.Formats.Asn1.AsnContentException e)
        {
            throw new KeyFormatException($"ECDSA public key is not a valid DER SubjectPublicKeyInfo: {e.Message}", e);
        }
        if (algorithm != EcPublicKeyOid) throw new KeyFormatException($"ECDSA public key has algorithm {algorithm}, not id-ecPublicKey");
        if (Array.IndexOf(SupportedOids, curve) < 0)
            throw new KeyFormatException($"ECDSA key uses an unsupported curve ({curve}); only P-256, P-384 and P-521 are accepted");
    }

    public static void RequireSupported(ECDsa key)
    {
        ECCurve curve = key.ExportParameters(false).Curve;
        string? oid = curve.IsNamed ? curve.Oid.Value : null;
        if (oid is null || Array.IndexOf(SupportedOids, oid) < 0)
            throw new KeyFormatException($"ECDSA key uses an unsupported curve ({curve.Oid.FriendlyName ?? oid ?? "explicit parameters"}); only P-256, P-384 and P-521 are accepted");
    }
}
