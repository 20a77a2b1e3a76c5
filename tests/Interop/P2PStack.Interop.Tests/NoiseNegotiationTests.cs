using static P2PStack.Interop.Tests.Interop;

namespace P2PStack.Interop.Tests;

/// <summary>The other half of the /noise fallback check: two of our hosts agree on the hybrid suite.</summary>
public sealed class NoiseNegotiationTests
{
    [Theory]
    [InlineData("tcp")]
    [InlineData("ws")]
    public async Task Two_of_ours_negotiate_the_hybrid_suite(string transport)
    {
        await using var a = await OurPeer.StartAsync();
        await using var b = await OurPeer.StartAsync();
        var connection = await a.Host.DialAsync(b.Address(transport), CancellationToken.None).AsTask().WaitAsync(StepTimeout);
        Assert.Equal(HybridNoiseProtocol, connection.SecurityProtocol);
        Assert.Equal(YamuxProtocol, connection.Muxer);
        var rtts = await a.Get<Protocols.Ping.PingService>().PingAsync(b.Host.PeerId, 1, CancellationToken.None).WaitAsync(StepTimeout);
        Assert.Single(rtts);
    }
}
