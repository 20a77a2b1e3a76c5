using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Network;

namespace P2PStack.Security.Noise.Tests;

public sealed class ClassicalNoiseConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel() =>
        new NoiseSecureChannel(NoiseSuite.Classical, Options.Create(new NoiseOptions()));
}

public sealed class NoiseMLKem512ConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel() =>
        new NoiseSecureChannel(NoiseSuite.MLKem512, Options.Create(new NoiseOptions()));
}

public sealed class NoiseMLKem768ConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel() =>
        new NoiseSecureChannel(NoiseSuite.MLKem768, Options.Create(new NoiseOptions()));
}

public sealed class NoiseMLKem1024ConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel() =>
        new NoiseSecureChannel(NoiseSuite.MLKem1024, Options.Create(new NoiseOptions()));
}

/// <summary>The hybrid level 3 suite over real loopback TCP connections (P2PStack.Transports.Tcp).</summary>
public sealed class NoiseMLKem768OverTcpConformanceTests : SecureChannelConformanceTests
{
    protected override ISecureChannel CreateChannel() =>
        new NoiseSecureChannel(NoiseSuite.MLKem768, Options.Create(new NoiseOptions()));

    protected override async ValueTask<(IRawConnection Dialer, IRawConnection Listener)> CreateRawPairAsync()
    {
        var transport = new P2PStack.Transports.Tcp.TcpTransport();
        await using var listener = await transport.ListenAsync(P2PStack.Addressing.Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        var accept = listener.AcceptAsync(default).AsTask();
        var dialer = await transport.DialAsync(listener.ListenAddress, default);
        return (dialer, await accept);
    }
}
