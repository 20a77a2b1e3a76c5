using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using P2PStack.Identity;

namespace P2PStack.Security.Tls.Tests;

public sealed class Libp2pCertificateTests
{
    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa)]
    public void Own_certificate_verifies_to_the_host_key(KeyType type)
    {
        using var key = PrivateKey.Generate(type);
        using var certificate = Libp2pCertificate.Create(key, TimeSpan.FromDays(1));
        Assert.Equal(Libp2pCertificate.ExtensionOid, certificate.Extensions[0].Oid!.Value); // first, as js requires
        Assert.True(certificate.Extensions[0].Critical);
        Assert.Equal(key.PublicKey, Libp2pCertificate.Verify(certificate, DateTimeOffset.UtcNow));
    }

    [Fact]
    public void Expired_or_not_yet_valid_certificates_are_refused()
    {
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        using var certificate = Libp2pCertificate.Create(key, TimeSpan.FromDays(1));
        Assert.Throws<TlsCertificateException>(() => Libp2pCertificate.Verify(certificate, DateTimeOffset.UtcNow.AddDays(2)));
        Assert.Throws<TlsCertificateException>(() => Libp2pCertificate.Verify(certificate, DateTimeOffset.UtcNow.AddHours(-2)));
    }

    [Fact]
    public void Extension_signed_for_another_certificate_key_is_refused()
    {
        // The attacker copies a victim's extension (key + signature) into a certificate with its own key.
        using var victim = PrivateKey.Generate(KeyType.Ed25519);
        using var genuine = Libp2pCertificate.Create(victim, TimeSpan.FromDays(1));
        using var attackerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=x", attackerKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension(new Oid(Libp2pCertificate.ExtensionOid), genuine.Extensions[0].RawData, true));
        using var forged = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        var error = Assert.Throws<TlsCertificateException>(() => Libp2pCertificate.Verify(forged, DateTimeOffset.UtcNow));
        Assert.Contains("signature", error.Message);
    }

    [Fact]
    public void Certificate_without_the_extension_is_refused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var plain = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        Assert.Throws<TlsCertificateException>(() => Libp2pCertificate.Verify(plain, DateTimeOffset.UtcNow));
    }

    [Fact]
    public void Unknown_critical_extension_and_garbage_extension_are_refused()
    {
        using var host = PrivateKey.Generate(KeyType.Ed25519);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] spki = key.ExportSubjectPublicKeyInfo();
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteOctetString(host.PublicKey.ToProtobuf());
            writer.WriteOctetString(host.Sign([.. "libp2p-tls-handshake:"u8, .. spki]));
        }
        var request = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension(new Oid(Libp2pCertificate.ExtensionOid), writer.Encode(), true));
        request.CertificateExtensions.Add(new X509Extension(new Oid("1.2.3.4.5"), [0x05, 0x00], true));
        using var withUnknown = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        Assert.Throws<TlsCertificateException>(() => Libp2pCertificate.Verify(withUnknown, DateTimeOffset.UtcNow));

        var garbage = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256);
        garbage.CertificateExtensions.Add(new X509Extension(new Oid(Libp2pCertificate.ExtensionOid), [0x30, 0x03, 0x04, 0x01], true));
        using var withGarbage = garbage.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        Assert.Throws<TlsCertificateException>(() => Libp2pCertificate.Verify(withGarbage, DateTimeOffset.UtcNow));
    }
}
