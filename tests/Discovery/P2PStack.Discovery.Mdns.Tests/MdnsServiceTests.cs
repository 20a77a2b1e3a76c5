using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using P2PStack.Addressing;
using P2PStack.Discovery.Mdns.Dns;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Discovery.Mdns.Tests;

/// <summary>The service over an in-memory transport: exact control of what arrives and what is sent.</summary>
public class MdnsServiceTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly IPEndPoint Lan = new(IPAddress.Parse("192.168.1.20"), 5353);

    private sealed class MemoryTransport : IMdnsTransport
    {
        public MdnsPacketHandler? Handler;
        public readonly BlockingCollection<(byte[] Packet, IPEndPoint? Destination)> Sent = [];

        public Task StartAsync(MdnsPacketHandler handler, CancellationToken cancellationToken)
        {
            Handler = handler;
            return Task.CompletedTask;
        }

        public ValueTask SendAsync(ReadOnlyMemory<byte> packet, IPEndPoint? destination, CancellationToken cancellationToken)
        {
            Sent.Add((packet.ToArray(), destination), cancellationToken);
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        public DnsMessage NextSent(out IPEndPoint? destination)
        {
            Assert.True(Sent.TryTake(out var item, Patience), "nothing was sent");
            destination = item.Destination;
            return DnsMessageReader.Read(item.Packet);
        }
    }

    /// <summary>A clock that never moves: what happens "within the interval" does not depend on the machine's speed.</summary>
    private sealed class FrozenClock : TimeProvider
    {
        public override long GetTimestamp() => 1_000_000;

        public override DateTimeOffset GetUtcNow() => new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    }

    private static (MdnsDiscovery Service, MemoryTransport Transport, IPeerHost Host, List<PeerDiscovered> Events) Create(
        Action<MdnsOptions>? configure = null, TimeProvider? time = null, IDiscoveryPolicy? policy = null)
    {
        var host = Substitute.For<IPeerHost>();
        host.PeerId.Returns(PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey));
        host.AdvertisedAddresses.Returns([Multiaddr.Parse("/ip4/192.168.1.5/tcp/4001")]);
        host.PeerStore.Returns(new InMemoryPeerStore());
        var bus = new EventBus(NullLogger<EventBus>.Instance);
        var events = new List<PeerDiscovered>();
        bus.Subscribe<PeerDiscovered>(e => { lock (events) events.Add(e); });
        host.Events.Returns(bus);
        host.GetConnections(Arg.Any<PeerId>()).Returns([]);
        var options = new MdnsOptions { QueryInterval = TimeSpan.FromHours(1), DialDiscovered = false };
        configure?.Invoke(options);
        var transport = new MemoryTransport();
        var service = new MdnsDiscovery(host, options, NullLogger.Instance, _ => transport, time, policy is null ? null : [policy]);
        return (service, transport, host, events);
    }

    /// <summary>A policy that, like the trust module at the signed level and above, uses signed records only.</summary>
    private sealed class SignedOnly : IDiscoveryPolicy
    {
        public int Refused;

        public string? Refuse(PeerId peer, DiscoveryEvidence evidence, string source)
        {
            if (evidence == DiscoveryEvidence.SignedRecord) return null;
            Interlocked.Increment(ref Refused);
            return "unsigned";
        }
    }

    [Fact]
    public async Task A_policy_that_demands_signed_records_drops_plain_mdns_answers()
    {
        var policy = new SignedOnly();
        var (service, transport, host, events) = Create(o => o.Broadcast = false, policy: policy);
        await service.StartAsync(CancellationToken.None);
        transport.NextSent(out _);
        transport.Handler!(TestPackets.JsResponse, Lan);
        var peer = PeerId.Parse(TestPackets.JsResponseInfo.GetProperty("peerId").GetString()!);
        Assert.Equal(1, policy.Refused);
        Assert.Empty(events);
        Assert.Empty(host.PeerStore.GetAddresses(peer));
        await service.DisposeAsync();
    }

    [Fact]
    public async Task QueriesAtStartAnswersOncePerIntervalAndAnswersLegacyQueriersByUnicast()
    {
        // Both copies of the query arrive at the same instant of a frozen clock, well within the one-second interval.
        var (service, transport, _, _) = Create(time: new FrozenClock());
        await service.StartAsync(CancellationToken.None);
        var query = transport.NextSent(out var to);
        Assert.Null(to);
        Assert.Equal("_p2p._udp.local", Assert.Single(query.Questions).Name);

        byte[] packet = TestPackets.JsQuery;
        transport.Handler!(packet, Lan);
        transport.Handler!(packet, Lan); // within a second: not multicast again
        var response = transport.NextSent(out to);
        Assert.Null(to);
        Assert.Equal(service.PeerName + "._p2p._udp.local", ((DnsPtrData)response.Answers[0].Data).Target);

        var legacySource = new IPEndPoint(IPAddress.Parse("192.168.1.20"), 40000);
        transport.Handler!(DnsMessageWriter.Write(DnsMessageReader.Read(packet) with { Id = 9 }), legacySource);
        var legacy = transport.NextSent(out to);
        Assert.Equal((legacySource, (ushort)9), (to, legacy.Id));
        Assert.Empty(transport.Sent);
        await service.DisposeAsync();
    }

    [Fact]
    public async Task IgnoresMalformedPacketsAndFeedsThePeerStoreAndEventBus()
    {
        var (service, transport, host, events) = Create(o => o.Broadcast = false);
        await service.StartAsync(CancellationToken.None);
        transport.NextSent(out _);
        var random = new Random(7);
        for (int i = 0; i < 200; i++)
        {
            var junk = new byte[random.Next(0, 100)];
            random.NextBytes(junk);
            transport.Handler!(junk, Lan);
        }
        transport.Handler!(TestPackets.JsQuery, Lan); // Broadcast off: not answered
        transport.Handler!(TestPackets.JsResponse, Lan);

        var info = TestPackets.JsResponseInfo;
        var peer = PeerId.Parse(info.GetProperty("peerId").GetString()!);
        var found = Assert.Single(events);
        Assert.Equal((peer, "mdns", 3), (found.Peer, found.Source, found.Addresses.Count));
        Assert.Equal(found.Addresses.OrderBy(a => a.ToString()), host.PeerStore.GetAddresses(peer).OrderBy(a => a.ToString()));
        Assert.Empty(transport.Sent);
        await service.DisposeAsync();
    }

    [Fact]
    public async Task DialsDiscoveredPeersOnceWithinTheBackoff()
    {
        var (service, transport, host, _) = Create(o => o.DialDiscovered = true);
        var dialed = new TaskCompletionSource<PeerId>();
        host.DialAsync(Arg.Any<PeerId>(), Arg.Any<CancellationToken>()).Returns(call =>
        {
            dialed.TrySetResult(call.Arg<PeerId>());
            return ValueTask.FromException<IConnection>(new IOException("unreachable"));
        });
        await service.StartAsync(CancellationToken.None);
        transport.Handler!(TestPackets.JsResponse, Lan);
        Assert.Equal(TestPackets.JsResponseInfo.GetProperty("peerId").GetString(), (await dialed.Task.WaitAsync(Patience)).ToString());
        transport.Handler!(TestPackets.JsResponse, Lan);
        await service.StopAsync(CancellationToken.None);
        await host.Received(1).DialAsync(Arg.Any<PeerId>(), Arg.Any<CancellationToken>());
        await service.DisposeAsync();
    }
}
