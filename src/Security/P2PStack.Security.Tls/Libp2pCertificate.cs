using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using P2PStack.Identity;
using PublicKey = P2PStack.Identity.PublicKey;

namespace P2PStack.Security.Tls;

/// <summary>
/// The libp2p TLS certificate (libp2p/specs tls/tls.md): self-signed, with a fresh ECDSA P-256 key, carrying the
/// libp2p Public Key Extension (OID 1.3.6.1.4.1.53594.1.1) = SEQUENCE { publicKey OCTET STRING (the libp2p public
/// key protobuf), signature OCTET STRING (the host key's signature over "libp2p-tls-handshake:" + the certificate's
/// SubjectPublicKeyInfo DER) }. The extension is the certificate's first, marked critical, as go and js write it.
/// </summary>
public static class Libp2pCertificate
{
    public const string ExtensionOid = "1.3.6.1.4.1.53594.1.1";
    private static ReadOnlySpan<byte> SignaturePrefix => "libp2p-tls-handshake:"u8;

    // Critical extensions a libp2p certificate may carry besides ours; any other critical one is refused.
    private static readonly HashSet<string> KnownCritical = ["2.5.29.19", "2.5.29.15", "2.5.29.37", ExtensionOid];

    /// <summary>Makes a certificate for <paramref name="identity"/>, valid from an hour ago (clock skew) for
    /// <paramref name="lifetime"/>.</summary>
    public static X509Certificate2 Create(PrivateKey identity, TimeSpan lifetime)
    {
        using var certificateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] spki = certificateKey.ExportSubjectPublicKeyInfo();
        byte[] signature = identity.Sign([.. SignaturePrefix, .. spki]);

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteOctetString(identity.PublicKey.ToProtobuf());
            writer.WriteOctetString(signature);
        }

        var request = new CertificateRequest(new X500DistinguishedName($"SERIALNUMBER={RandomSerial(8)}"), certificateKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension(new Oid(ExtensionOid), writer.Encode(), critical: true));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddHours(-1), now + lifetime);
    }

    private static string RandomSerial(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));

    /// <summary>
    /// Checks a peer's certificate as the spec asks and returns its libp2p public key: within its validity period,
    /// a valid self-signature, the extension present once and its signature valid, no unknown critical extension.
    /// </summary>
    /// <exception cref="TlsCertificateException">The certificate does not prove a libp2p identity.</exception>
    public static PublicKey Verify(X509Certificate2 certificate, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        try
        {
            return VerifyCore(certificate, now);
        }
        catch (CryptographicException ex)
        {
            // The platform parses a certificate's parts lazily: a validity date, an extension or the key that does not
            // decode surfaces on first access (found by the tls-certificate fuzz target).
            throw new TlsCertificateException($"the certificate does not decode: {ex.Message}");
        }
    }

    private static PublicKey VerifyCore(X509Certificate2 certificate, DateTimeOffset now)
    {
        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime())
            throw new TlsCertificateException($"the certificate is valid from {certificate.NotBefore:u} to {certificate.NotAfter:u}, not now");

        byte[]? extensionValue = null;
        foreach (var extension in certificate.Extensions)
        {
            string oid = extension.Oid?.Value ?? "";
            if (oid == ExtensionOid)
            {
                if (extensionValue is not null) throw new TlsCertificateException("the libp2p public key extension appears twice");
                extensionValue = extension.RawData;
            }
            else if (extension.Critical && !KnownCritical.Contains(oid))
            {
                throw new TlsCertificateException($"the certificate has an unknown critical extension {oid}");
            }
        }
        if (extensionValue is null) throw new TlsCertificateException("the certificate has no libp2p public key extension");

        byte[] keyBytes, signature;
        try
        {
            var reader = new AsnReader(extensionValue, AsnEncodingRules.DER);
            var sequence = reader.ReadSequence();
            keyBytes = sequence.ReadOctetString();
            signature = sequence.ReadOctetString();
            sequence.ThrowIfNotEmpty();
            reader.ThrowIfNotEmpty();
        }
        catch (AsnContentException ex)
        {
            throw new TlsCertificateException($"the libp2p public key extension does not decode: {ex.Message}");
        }

        PublicKey hostKey;
        try
        {
            hostKey = PublicKey.FromProtobuf(keyBytes);
        }
        catch (FormatException ex)
        {
            throw new TlsCertificateException($"the libp2p public key in the certificate does not decode: {ex.Message}");
        }

        byte[] spki = certificate.PublicKey.ExportSubjectPublicKeyInfo();
        if (!hostKey.Verify([.. SignaturePrefix, .. spki], signature))
            throw new TlsCertificateException("the libp2p signature over the certificate key is invalid");
        VerifySelfSignature(certificate);
        return hostKey;
    }

    /// <summary>The certificate's signature, checked with its own key (ECDSA, RSA PKCS#1 or Ed25519).</summary>
    private static void VerifySelfSignature(X509Certificate2 certificate)
    {
        ReadOnlyMemory<byte> tbs;
        string algorithm;
        byte[] signature;
        try
        {
            var reader = new AsnReader(certificate.RawData, AsnEncodingRules.DER);
            var outer = reader.ReadSequence();
            tbs = outer.ReadEncodedValue();
            var algorithmId = outer.ReadSequence();
            algorithm = algorithmId.ReadObjectIdentifier();
            signature = outer.ReadBitString(out int unused);
            if (unused != 0) throw new TlsCertificateException("the certificate signature is not a whole number of bytes");
        }
        catch (AsnContentException ex)
        {
            throw new TlsCertificateException($"the certificate does not decode: {ex.Message}");
        }

        bool valid;
        try
        {
            valid = algorithm switch
            {
                "1.2.840.10045.4.3.2" => VerifyEcdsa(certificate, tbs.Span, signature, HashAlgorithmName.SHA256),
                "1.2.840.10045.4.3.3" => VerifyEcdsa(certificate, tbs.Span, signature, HashAlgorithmName.SHA384),
                "1.2.840.10045.4.3.4" => VerifyEcdsa(certificate, tbs.Span, signature, HashAlgorithmName.SHA512),
                "1.2.840.113549.1.1.11" => VerifyRsa(certificate, tbs.Span, signature, HashAlgorithmName.SHA256),
                "1.2.840.113549.1.1.12" => VerifyRsa(certificate, tbs.Span, signature, HashAlgorithmName.SHA384),
                "1.2.840.113549.1.1.13" => VerifyRsa(certificate, tbs.Span, signature, HashAlgorithmName.SHA512),
                "1.3.101.112" => VerifyEd25519(certificate, tbs.Span, signature),
                _ => throw new TlsCertificateException($"unsupported certificate signature algorithm {algorithm}"),
            };
        }
        catch (CryptographicException ex)
        {
            throw new TlsCertificateException($"the certificate key cannot check its signature: {ex.Message}");
        }
        if (!valid) throw new TlsCertificateException("the certificate's self-signature is invalid");
    }

    private static bool VerifyEcdsa(X509Certificate2 certificate, ReadOnlySpan<byte> tbs, byte[] signature, HashAlgorithmName hash)
    {
        using var key = certificate.GetECDsaPublicKey() ?? throw new TlsCertificateException("the certificate key is not an ECDSA key");
        return key.VerifyData(tbs, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
    }

    private static bool VerifyRsa(X509Certificate2 certificate, ReadOnlySpan<byte> tbs, byte[] signature, HashAlgorithmName hash)
    {
        using var key = certificate.GetRSAPublicKey() ?? throw new TlsCertificateException("the certificate key is not an RSA key");
        return key.VerifyData(tbs, signature, hash, RSASignaturePadding.Pkcs1);
    }

    private static bool VerifyEd25519(X509Certificate2 certificate, ReadOnlySpan<byte> tbs, byte[] signature)
    {
        // SubjectPublicKeyInfo { AlgorithmIdentifier { 1.3.101.112 }, BIT STRING key }: the raw 32-byte key.
        var reader = new AsnReader(certificate.PublicKey.ExportSubjectPublicKeyInfo(), AsnEncodingRules.DER).ReadSequence();
        reader.ReadSequence();
        byte[] raw = reader.ReadBitString(out _);
        return PublicKey.FromRaw(KeyType.Ed25519, raw).Verify(tbs, signature);
    }
}

/// <summary>A peer's TLS certificate does not prove a libp2p identity.</summary>
public sealed class TlsCertificateException(string message) : P2PStack.P2PFormatException(message);
