using P2PStack.Network;
using P2PStack.Protocols.Ping;

namespace P2PStack.Host.Tests.Virtual;

/// <summary>A host runs a full connection (Noise, Yamux, protocols) over a virtual transport that itself depends on
/// the host: resolved lazily, no DI cycle.</summary>
public class VirtualTransportHostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_connection_inside_a_stream_of_another_connection_is_upgraded_and_carries_protocols()
    {
        await using var listening = await StreamTransportConformanceTests.StartAsync();
        await using var dialing = await StreamTransportConformanceTests.StartAsync();
        var outer = await dialing.Host.DialAsync(listening.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await using var virtualListener = await listening.Host.ListenAsync(StreamTransport.AnyListenAddress, CancellationToken.None);

        var inner = await dialing.Host.DialAsync(virtualListener.Address.Encapsulate($"/p2p/{listening.Host.PeerId}"),
            new DialOptions { ForceNewConnection = true }, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.NotSame(outer, inner);
        Assert.Equal("x-stream", inner.Transport);
        Assert.Equal(virtualListener.Address, inner.RemoteAddress);
        Assert.Equal(listening.Host.PeerId, inner.RemotePeer);
        Assert.StartsWith("/noise", inner.SecurityProtocol);
        Assert.Equal("/yamux/1.0.0", inner.Muxer);

        await using var ping = await inner.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(3, (await dialing.Get<PingService>().PingAsync(ping, 3, CancellationToken.None).WaitAsync(Patience)).Count);
        Assert.Equal(2, dialing.Host.GetConnections(listening.Host.PeerId).Count);

        // Closing the outer connection takes the inner one with it.
        await outer.CloseAsync(CancellationToken.None);
        await inner.Completion.WaitAsync(Patience);
    }
}
