using P2PStack.Addressing;
using P2PStack.Conformance.Transport;
using P2PStack.Network;

namespace P2PStack.Transports.WebSocket.Tests;

public class WebSocketIPv4ConformanceTests : TransportConformanceTests
{
    protected override ITransport CreateTransport() => new WebSocketTransport();

    protected override Multiaddr ListenAddress => Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws");

    protected override void AssertConcrete(Multiaddr boundAddress)
    {
        Assert.Equal("127.0.0.1", boundAddress.ValueOf(MultiaddrProtocols.Ip4));
        Assert.NotEqual("0", boundAddress.ValueOf(MultiaddrProtocols.Tcp));
        Assert.True(boundAddress.Has(MultiaddrProtocols.Ws));
    }
}

public class WebSocketIPv6ConformanceTests : TransportConformanceTests
{
    protected override ITransport CreateTransport() => new WebSocketTransport();

    protected override Multiaddr ListenAddress => Multiaddr.Parse("/ip6/::1/tcp/0/ws");

    protected override void AssertConcrete(Multiaddr boundAddress)
    {
        Assert.Equal("::1", boundAddress.ValueOf(MultiaddrProtocols.Ip6));
        Assert.NotEqual("0", boundAddress.ValueOf(MultiaddrProtocols.Tcp));
    }
}

/// <summary>The conformance suite over <c>/wss</c>: TLS with a self-signed certificate made for the run, which the
/// dialing transport pins by thumbprint (a browser would need it trusted or issued by a trusted CA).</summary>
public class WebSocketSecureConformanceTests : TransportConformanceTests
{
    private static readonly System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate = TestCertificates.SelfSigned("localhost");

    protected override ITransport CreateTransport() => new WebSocketTransport(new WebSocketTransportOptions { ServerCertificate = Certificate });

    protected override ITransport CreateDialingTransport() => new WebSocketTransport(new WebSocketTransportOptions
    {
        ServerCertificateValidation = (_, certificate, _, _) => certificate?.GetCertHashString() == Certificate.GetCertHashString(),
    });

    protected override Multiaddr ListenAddress => Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/wss");

    protected override void AssertConcrete(Multiaddr boundAddress)
    {
        Assert.Equal("127.0.0.1", boundAddress.ValueOf(MultiaddrProtocols.Ip4));
        Assert.NotEqual("0", boundAddress.ValueOf(MultiaddrProtocols.Tcp));
        Assert.True(boundAddress.Has(MultiaddrProtocols.Wss));
    }
}

internal static class TestCertificates
{
    /// <summary>A self-signed ECDSA P-256 certificate for <paramref name="name"/> and 127.0.0.1, valid for a day.</summary>
    public static System.Security.Cryptography.X509Certificates.X509Certificate2 SelfSigned(string name)
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest($"CN={name}", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256);
        var names = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Through PKCS#12, so SslStream on Linux gets a certificate whose key it can use.
        return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(certificate.Export(
            System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
    }
}
