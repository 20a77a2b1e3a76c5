using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Network;

namespace P2PStack.Security.Tls.Tests;

public sealed class TlsConformanceTests : SecureChannelConformanceTests
{
    protected override FrameLayout Framing => FrameLayout.TlsRecords;

    // ClientHello, then Certificate, CertificateVerify and Finished (one record each), then application data.
    protected override int FirstDialerTransportFrame => 4;

    // SslStream on OpenSSL checks the server certificate after the client's Finished is sent.
    protected override bool ResponderMayFinishBeforeInitiatorRejects => true;

    protected override ISecureChannel CreateChannel() => new TlsSecureChannel(Options.Create(new TlsOptions()));
}

/// <summary>The same suite over real loopback TCP connections (P2PStack.Transports.Tcp).</summary>
public sealed class TlsOverTcpConformanceTests : SecureChannelConformanceTests
{
    protected override FrameLayout Framing => FrameLayout.TlsRecords;

    // ClientHello, then Certificate, CertificateVerify and Finished (one record each), then application data.
    protected override int FirstDialerTransportFrame => 4;

    // SslStream on OpenSSL checks the server certificate after the client's Finished is sent.
    protected override bool ResponderMayFinishBeforeInitiatorRejects => true;

    protected override ISecureChannel CreateChannel() => new TlsSecureChannel(Options.Create(new TlsOptions()));

    protected override async ValueTask<(IRawConnection Dialer, IRawConnection Listener)> CreateRawPairAsync()
    {
        var transport = new P2PStack.Transports.Tcp.TcpTransport();
        await using var listener = await transport.ListenAsync(P2PStack.Addressing.Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        var accept = listener.AcceptAsync(default).AsTask();
        var dialer = await transport.DialAsync(listener.ListenAddress, default);
        return (dialer, await accept);
    }
}
