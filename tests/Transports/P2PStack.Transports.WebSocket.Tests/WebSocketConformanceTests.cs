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
