using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NSubstitute;
using P2PStack.Discovery;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using SynapticMesh.Node;

namespace SynapticMesh.Tests;

/// <summary>Discovered peers are dialed by peer id while the node is below the low watermark, once per backoff.</summary>
public sealed class DiscoveredPeerDialerTests
{
    private static PeerId NewPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    private static (DiscoveredPeerDialer Dialer, IPeerHost Host, EventBus Bus, List<PeerId> Dialed, List<IConnection> Connections) Create(int lowWater)
    {
        var host = Substitute.For<IPeerHost>();
        host.PeerId.Returns(NewPeer());
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        host.Events.Returns(bus);
        var connections = new List<IConnection>();
        host.GetConnections().Returns(_ => connections.ToList());
        host.GetConnections(Arg.Any<PeerId>()).Returns(call => connections.Where(c => c.RemotePeer == call.Arg<PeerId>()).ToList());
        var dialed = new List<PeerId>();
        host.DialAsync(Arg.Any<PeerId>(), Arg.Any<CancellationToken>()).Returns(call =>
        {
            lock (dialed) dialed.Add(call.Arg<PeerId>());
            var connection = Substitute.For<IConnection>();
            connection.RemotePeer.Returns(call.Arg<PeerId>());
            return ValueTask.FromResult(connection);
        });
        var hostOptions = new HostOptions();
        hostOptions.ConnectionManager.LowWater = lowWater;
        var dialer = new DiscoveredPeerDialer(host, Options.Create(hostOptions), Options.Create(new DiscoveredPeerDialerOptions()),
            NullLogger<DiscoveredPeerDialer>.Instance);
        return (dialer, host, bus, dialed, connections);
    }

    [Fact]
    public async Task DialsEachDiscoveredPeerOnceWithinTheBackoff()
    {
        var (dialer, _, bus, dialed, _) = Create(lowWater: 10);
        await dialer.StartAsync(CancellationToken.None);
        var peer = NewPeer();
        bus.Publish(new PeerDiscovered(peer, [], "mdns"));
        bus.Publish(new PeerDiscovered(peer, [], "mdns"));
        await dialer.StopAsync(CancellationToken.None); // waits for the dials in flight
        Assert.Equal([peer], dialed);
    }

    [Fact]
    public async Task DoesNotDialAtTheLowWatermarkOrConnectedPeersOrItself()
    {
        var (dialer, host, bus, dialed, connections) = Create(lowWater: 1);
        await dialer.StartAsync(CancellationToken.None);
        var connected = Substitute.For<IConnection>();
        var existing = NewPeer();
        connected.RemotePeer.Returns(existing);
        connections.Add(connected);
        bus.Publish(new PeerDiscovered(NewPeer(), [], "mdns"));   // one peer connected = the low watermark
        bus.Publish(new PeerDiscovered(existing, [], "mdns"));    // already connected
        bus.Publish(new PeerDiscovered(host.PeerId, [], "mdns")); // ourselves
        await dialer.StopAsync(CancellationToken.None);
        Assert.Empty(dialed);
    }
}
