using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Encoding;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Protocols.Kademlia.Validation;
using P2PStack.Security.Noise;
using P2PStack.Transports.Memory;

namespace P2PStack.Protocols.Kademlia.Tests;

/// <summary>Real hosts (memory transport, Noise, Yamux, identify) running the DHT over real streams.</summary>
public class HostIntegrationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    internal sealed class DhtPeer : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        private DhtPeer(ServiceProvider services)
        {
            _services = services;
            Host = services.GetRequiredService<PeerHost>();
            Dht = services.GetRequiredService<KademliaDht>();
            Service = services.GetRequiredService<KademliaHostedService>();
        }

        public PeerHost Host { get; }
        public KademliaDht Dht { get; }
        public KademliaHostedService Service { get; }
        public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

        public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

        public static async Task<DhtPeer> StartAsync(MemoryNetwork network, Action<KademliaOptions> configure)
        {
            var services = new ServiceCollection();
            services.AddSingleton(network);
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn("/memory/0");
                p2p.AddMemoryTransport();
                p2p.AddNoise();
                p2p.AddYamux();
                p2p.AddIdentify();
                p2p.AddKademlia(o =>
                {
                    o.RefreshInterval = TimeSpan.Zero;
                    configure(o);
                });
            });
            var peer = new DhtPeer(services.BuildServiceProvider());
            await peer.Host.StartAsync(CancellationToken.None);
            await peer.Service.StartAsync(CancellationToken.None);
            return peer;
        }

        public async ValueTask DisposeAsync()
        {
            await Service.StopAsync(CancellationToken.None);
            await Host.DisposeAsync();
            await _services.DisposeAsync();
        }
    }

    [Fact]
    public async Task TwentyHostsFindPeersValuesAndProvidersInBothDirections()
    {
        var network = new MemoryNetwork();
        var peers = new List<DhtPeer>();
        try
        {
            var first = await DhtPeer.StartAsync(network, _ => { });
            peers.Add(first);
            for (int i = 1; i < 20; i++)
            {
                var peer = await DhtPeer.StartAsync(network, o => o.BootstrapPeers.Add(first.Address));
                await peer.Service.Bootstrap.WaitAsync(Patience);
                peers.Add(peer);
            }
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            Assert.All(peers, p => Assert.True(p.Dht.RoutingTable.Count >= 5, $"routing table of {p.Dht.RoutingTable.Count}"));

            // Peers: the last finds the first and the first finds the last (it learned of it via identify + refresh).
            var a = peers[^1];
            var b = peers[0];
            Assert.Equal(b.Host.PeerId, (await a.Dht.FindPeerAsync(b.Host.PeerId, CancellationToken.None).WaitAsync(Patience)).Peer);
            foreach (var target in peers.Skip(1).Take(8))
                Assert.Equal(target.Host.PeerId, (await b.Dht.FindPeerAsync(target.Host.PeerId, CancellationToken.None).WaitAsync(Patience)).Peer);

            // Values both ways.
            using var keyA = PrivateKey.Generate();
            using var keyB = PrivateKey.Generate();
            byte[] recordA = PublicKeyValidator.KeyFor(PeerId.FromPublicKey(keyA.PublicKey));
            byte[] recordB = PublicKeyValidator.KeyFor(PeerId.FromPublicKey(keyB.PublicKey));
            Assert.True(await a.Dht.PutValueAsync(recordA, keyA.PublicKey.ToProtobuf(), CancellationToken.None).WaitAsync(Patience) >= 10);
            Assert.True(await b.Dht.PutValueAsync(recordB, keyB.PublicKey.ToProtobuf(), CancellationToken.None).WaitAsync(Patience) >= 10);
            Assert.Equal(keyA.PublicKey.ToProtobuf(), await b.Dht.GetValueAsync(recordA, CancellationToken.None).WaitAsync(Patience));
            Assert.Equal(keyB.PublicKey.ToProtobuf(), await a.Dht.GetValueAsync(recordB, CancellationToken.None).WaitAsync(Patience));

            // Providers both ways.
            var cidA = Cid.V1(Multicodec.Raw, Multihash.Sha2_256("content of a"u8));
            var cidB = Cid.V1(Multicodec.Raw, Multihash.Sha2_256("content of b"u8));
            Assert.True(await a.Dht.ProvideAsync(cidA, CancellationToken.None).WaitAsync(Patience) >= 10);
            Assert.True(await b.Dht.ProvideAsync(cidB, CancellationToken.None).WaitAsync(Patience) >= 10);
            var foundA = await peers[7].Dht.FindProvidersAsync(cidA, CancellationToken.None).WaitAsync(Patience);
            Assert.Contains(foundA, p => p.Peer == a.Host.PeerId && p.Addresses.Count > 0);
            var foundB = await a.Dht.FindProvidersAsync(cidB, CancellationToken.None).WaitAsync(Patience);
            Assert.Contains(foundB, p => p.Peer == b.Host.PeerId && p.Addresses.Count > 0);
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    /// <summary>Accepts any value; picks the first (a namespace for the large-record test).</summary>
    private sealed class AnyValueValidator : IRecordValidator
    {
        public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) { }
        public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values) => 0;
    }

    /// <summary>A PUT_VALUE and GET_VALUE of a 1 MiB record cross a yamux stream whose window is 256 KiB: the kad
    /// reader consumes each message as it arrives, so window credit flows back while it is incomplete (records that large
    /// need a raised <see cref="RecordStoreLimits.MaxValueLength"/>; kad messages may be 4 MiB).</summary>
    [Fact]
    public async Task RecordLargerThanTheYamuxWindowIsStoredAndFetched()
    {
        var network = new MemoryNetwork();
        static void Configure(KademliaOptions o)
        {
            o.Validator.Add("big", new AnyValueValidator());
            o.RecordLimits.MaxValueLength = 2 * 1024 * 1024; // the default is 64 KiB
        }
        await using var a = await DhtPeer.StartAsync(network, Configure);
        await using var b = await DhtPeer.StartAsync(network, o =>
        {
            Configure(o);
            o.BootstrapPeers.Add(a.Address);
        });
        await b.Service.Bootstrap.WaitAsync(Patience);

        byte[] key = "/big/record"u8.ToArray();
        byte[] value = new byte[1024 * 1024];
        new Random(3).NextBytes(value);
        Assert.Equal(1, await b.Dht.PutValueAsync(key, value, CancellationToken.None).WaitAsync(Patience));
        var stored = await a.Dht.RequestHandler.GetFreshRecordAsync(key, CancellationToken.None);
        Assert.Equal(value, stored!.Value);

        await using var c = await DhtPeer.StartAsync(network, o =>
        {
            Configure(o);
            o.BootstrapPeers.Add(a.Address);
        });
        await c.Service.Bootstrap.WaitAsync(Patience);
        Assert.Equal(value, await c.Dht.GetValueAsync(key, CancellationToken.None).WaitAsync(Patience));
    }

    [Fact]
    public async Task PeersConnectedToAPeerAreFoundAndAProviderCountEndsTheSearch()
    {
        var network = new MemoryNetwork();
        await using var hub = await DhtPeer.StartAsync(network, _ => { });
        await using var target = await DhtPeer.StartAsync(network, o => o.BootstrapPeers.Add(hub.Address));
        await target.Service.Bootstrap.WaitAsync(Patience);
        await using var asker = await DhtPeer.StartAsync(network, o => o.BootstrapPeers.Add(hub.Address));
        await asker.Service.Bootstrap.WaitAsync(Patience);

        // The hub answers FIND_NODE(target) listing the target as CONNECTED; the asker counts itself when connected.
        var connected = await asker.Dht.FindPeersConnectedToPeerAsync(target.Host.PeerId, CancellationToken.None).WaitAsync(Patience);
        Assert.Contains(connected, p => p.Peer == hub.Host.PeerId && p.Addresses.Count > 0);
        Assert.Equal(asker.Host.GetConnections(target.Host.PeerId).Count > 0, connected.Any(p => p.Peer == asker.Host.PeerId));
        Assert.Empty(await asker.Dht.FindPeersConnectedToPeerAsync(PeerId.FromPublicKey(PrivateKey.Generate().PublicKey), CancellationToken.None)
            .WaitAsync(Patience));

        var cid = Cid.V1(Multicodec.Raw, Multihash.Sha2_256("provided by two"u8));
        await hub.Dht.ProvideAsync(cid, CancellationToken.None).WaitAsync(Patience);
        await target.Dht.ProvideAsync(cid, CancellationToken.None).WaitAsync(Patience);
        Assert.Single(await asker.Dht.FindProvidersAsync(cid.Hash.Encoded, 1, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(2, (await asker.Dht.FindProvidersAsync(cid.Hash.Encoded, 0, CancellationToken.None).WaitAsync(Patience)).Count);
        Assert.Single(await hub.Dht.FindProvidersAsync(cid.Hash.Encoded, 1, CancellationToken.None).WaitAsync(Patience));
    }

    [Fact]
    public async Task ClientModePeersQueryButAreNotAddedToTables()
    {
        var network = new MemoryNetwork();
        await using var server1 = await DhtPeer.StartAsync(network, _ => { });
        await using var server2 = await DhtPeer.StartAsync(network, o => o.BootstrapPeers.Add(server1.Address));
        await server2.Service.Bootstrap.WaitAsync(Patience);
        await using var client = await DhtPeer.StartAsync(network, o =>
        {
            o.Mode = DhtMode.Client;
            o.BootstrapPeers.Add(server1.Address);
        });
        await client.Service.Bootstrap.WaitAsync(Patience);

        Assert.DoesNotContain(KadProtocol.DefaultProtocolId, client.Host.Protocols);
        Assert.Equal(server2.Host.PeerId, (await client.Dht.FindPeerAsync(server2.Host.PeerId, CancellationToken.None).WaitAsync(Patience)).Peer);
        Assert.True(client.Dht.RoutingTable.Contains(server1.Host.PeerId));
        await Task.Delay(200);
        Assert.False(server1.Dht.RoutingTable.Contains(client.Host.PeerId));
        Assert.False(server2.Dht.RoutingTable.Contains(client.Host.PeerId));
        Assert.True(server1.Dht.RoutingTable.Contains(server2.Host.PeerId));
    }
}
