using P2PStack.Addressing;
using P2PStack.Conformance.Transport;
using P2PStack.Network;

namespace P2PStack.Transports.Memory.Tests;

public class MemoryConformanceTests : TransportConformanceTests
{
    private readonly MemoryNetwork _network = new();

    protected override ITransport CreateTransport() => new MemoryTransport(_network);

    protected override Multiaddr ListenAddress => Multiaddr.Parse("/memory/0");

    protected override void AssertConcrete(Multiaddr boundAddress) =>
        Assert.NotEqual("0", boundAddress.ValueOf(MultiaddrProtocols.Memory));
}
