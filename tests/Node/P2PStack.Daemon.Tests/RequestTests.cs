using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Daemon.Pb;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Daemon.Tests;

/// <summary>Each request type against real daemons on loopback TCP.</summary>
public sealed class RequestTests
{
    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        using var deadline = new CancellationTokenSource(TestDaemon.Patience);
        while (!await condition())
        {
            if (deadline.IsCancellationRequested) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    private static ByteString Id(TestDaemon daemon) => ByteString.CopyFrom(daemon.Host.PeerId.Bytes.Span);

    [Fact]
    public async Task ConnectListPeersPeerStoreConnManagerAndDisconnect()
    {
        await using var a = await TestDaemon.StartAsync();
        await using var b = await TestDaemon.StartAsync();

        var identify = await b.RequestAsync(Requests.Identify());
        // The relay transport's /p2p-circuit listener accepts relayed connections but is not an address to announce.
        Assert.Equal(b.Host.ListenAddresses.Where(a => a.ToString() != "/p2p-circuit"), identify.Identify.Addrs.Select(x => Multiaddr.Decode(x.Span)));
        Assert.Empty((await a.RequestAsync(new Request { Type = Request.Types.Type.ListPeers })).Peers);

        // The address may carry the peer's /p2p suffix.
        var connect = Requests.Connect(b);
        connect.Connect.Addrs[0] = ByteString.CopyFrom(b.Address.Bytes.Span);
        Assert.Equal(Response.Types.Type.Ok, (await a.RequestAsync(connect)).Type);
        var peers = (await a.RequestAsync(new Request { Type = Request.Types.Type.ListPeers })).Peers;
        Assert.Equal(Id(b), Assert.Single(peers).Id);
        Assert.Equal(b.Host.ListenAddresses[0], Multiaddr.Decode(peers[0].Addrs[0].Span));

        await WaitUntilAsync(async () =>
        {
            var protocols = await a.RequestAsync(new Request
            {
                Type = Request.Types.Type.Peerstore,
                PeerStore = new PeerstoreRequest { Type = PeerstoreRequest.Types.Type.GetProtocols, Id = Id(b) },
            });
            return protocols.PeerStore.Protos.Contains("/ipfs/ping/1.0.0");
        }, "identify to fill the peer store");
        var info = await a.RequestAsync(new Request
        {
            Type = Request.Types.Type.Peerstore,
            PeerStore = new PeerstoreRequest { Type = PeerstoreRequest.Types.Type.GetPeerInfo, Id = Id(b) },
        });
        Assert.Equal(Id(b), info.PeerStore.Peer.Id);
        Assert.Contains(info.PeerStore.Peer.Addrs, x => Multiaddr.Decode(x.Span) == b.Host.ListenAddresses[0]);

        foreach (var type in new[] { ConnManagerRequest.Types.Type.TagPeer, ConnManagerRequest.Types.Type.UntagPeer, ConnManagerRequest.Types.Type.Trim })
        {
            var response = await a.RequestAsync(new Request
            {
                Type = Request.Types.Type.Connmanager,
                ConnManager = new ConnManagerRequest { Type = type, Peer = Id(b), Tag = "test", Weight = 10 },
            });
            Assert.Equal(Response.Types.Type.Ok, response.Type);
        }
        var untagged = await a.RequestAsync(new Request
        {
            Type = Request.Types.Type.Connmanager,
            ConnManager = new ConnManagerRequest { Type = ConnManagerRequest.Types.Type.TagPeer, Peer = Id(b) },
        });
        Assert.Contains("tag is missing", untagged.Error.Msg);

        Assert.Equal(Response.Types.Type.Ok, (await a.RequestAsync(new Request
        {
            Type = Request.Types.Type.Disconnect,
            Disconnect = new DisconnectRequest { Peer = Id(b) },
        })).Type);
        Assert.Empty((await a.RequestAsync(new Request { Type = Request.Types.Type.ListPeers })).Peers);
    }

    [Fact]
    public async Task ConnectToAnUnreachablePeerIsAnError()
    {
        await using var a = await TestDaemon.StartAsync();
        Multiaddr nowhere;
        using (var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            closed.Start();
            nowhere = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{((System.Net.IPEndPoint)closed.LocalEndpoint).Port}");
        }
        using var key = PrivateKey.Generate();
        var response = await a.RequestAsync(new Request
        {
            Type = Request.Types.Type.Connect,
            Connect = new ConnectRequest
            {
                Peer = ByteString.CopyFrom(PeerId.FromPublicKey(key.PublicKey).Bytes.Span),
                Addrs = { ByteString.CopyFrom(nowhere.Bytes.Span) },
                Timeout = 5,
            },
        });
        Assert.Equal(Response.Types.Type.Error, response.Type);
        Assert.NotEmpty(response.Error.Msg);
    }

    [Fact]
    public async Task DhtRequests()
    {
        await using var a = await TestDaemon.StartAsync(s => s.Dht = Protocols.Kademlia.DhtMode.Server);
        await using var b = await TestDaemon.StartAsync(s => s.Dht = Protocols.Kademlia.DhtMode.Server);
        await using var c = await TestDaemon.StartAsync(s => s.Dht = Protocols.Kademlia.DhtMode.Server);
        Assert.Equal(Response.Types.Type.Ok, (await a.RequestAsync(Requests.Connect(b))).Type);
        Assert.Equal(Response.Types.Type.Ok, (await c.RequestAsync(Requests.Connect(b))).Type);
        var dhtA = a.Get<Protocols.Kademlia.KademliaDht>();
        var dhtC = c.Get<Protocols.Kademlia.KademliaDht>();
        await WaitUntilAsync(() => Task.FromResult(dhtA.RoutingTable.Count > 0 && dhtC.RoutingTable.Count > 0), "routing tables");

        // FIND_PEER: a learns c's addresses from b.
        var found = await a.RequestAsync(Requests.Dht(new DHTRequest { Type = DHTRequest.Types.Type.FindPeer, Peer = Id(c) }));
        Assert.Equal(DHTResponse.Types.Type.Value, found.Dht.Type);
        Assert.Contains(found.Dht.Peer.Addrs, x => Multiaddr.Decode(x.Span) == c.Host.ListenAddresses[0]);

        // FIND_PEERS_CONNECTED_TO_PEER: b is connected to c.
        var connected = await StreamAsync(a, new DHTRequest { Type = DHTRequest.Types.Type.FindPeersConnectedToPeer, Peer = Id(c) });
        Assert.Contains(connected, r => r.Peer.Id == Id(b));

        // GET_CLOSEST_PEERS streams peer ids.
        var closest = await StreamAsync(a, new DHTRequest { Type = DHTRequest.Types.Type.GetClosestPeers, Key = ByteString.CopyFromUtf8("some key") });
        Assert.Contains(closest, r => r.Value == Id(b));

        // PUT_VALUE, GET_VALUE, SEARCH_VALUE of a /pk record.
        using var key = PrivateKey.Generate(KeyType.Rsa);
        var recordKey = ByteString.CopyFrom(PublicKeyValidator.KeyFor(PeerId.FromPublicKey(key.PublicKey)));
        var recordValue = ByteString.CopyFrom(key.PublicKey.ToProtobuf());
        Assert.Equal(Response.Types.Type.Ok, (await a.RequestAsync(Requests.Dht(new DHTRequest
        {
            Type = DHTRequest.Types.Type.PutValue, Key = recordKey, Value = recordValue,
        }))).Type);
        Assert.Equal(recordValue, (await c.RequestAsync(Requests.Dht(new DHTRequest { Type = DHTRequest.Types.Type.GetValue, Key = recordKey }))).Dht.Value);
        Assert.Equal(recordValue, Assert.Single(await StreamAsync(c, new DHTRequest { Type = DHTRequest.Types.Type.SearchValue, Key = recordKey })).Value);
        var invalid = await a.RequestAsync(Requests.Dht(new DHTRequest { Type = DHTRequest.Types.Type.PutValue, Key = recordKey, Value = ByteString.CopyFromUtf8("junk") }));
        Assert.Equal(Response.Types.Type.Error, invalid.Type);

        // GET_PUBLIC_KEY: from the peer store (b is connected) and from the DHT (an RSA peer id does not inline its key).
        var ofB = await a.RequestAsync(Requests.Dht(new DHTRequest { Type = DHTRequest.Types.Type.GetPublicKey, Peer = Id(b) }));
        Assert.Equal(b.Host.PeerId, PeerId.FromPublicKey(PublicKey.FromProtobuf(ofB.Dht.Value.Span)));
        var ofRsa = await c.RequestAsync(Requests.Dht(new DHTRequest
        {
            Type = DHTRequest.Types.Type.GetPublicKey, Peer = ByteString.CopyFrom(PeerId.FromPublicKey(key.PublicKey).Bytes.Span),
        }));
        Assert.Equal(recordValue, ofRsa.Dht.Value);

        // PROVIDE and FIND_PROVIDERS with a count.
        var cid = Cid.V1(Multicodec.Raw, Multihash.Sha2_256("daemon test content"u8));
        foreach (var provider in new[] { a, b })
        {
            Assert.Equal(Response.Types.Type.Ok, (await provider.RequestAsync(Requests.Dht(new DHTRequest
            {
                Type = DHTRequest.Types.Type.Provide, Cid = ByteString.CopyFrom(cid.Encoded.Span),
            }))).Type);
        }
        var providers = await StreamAsync(c, new DHTRequest { Type = DHTRequest.Types.Type.FindProviders, Cid = ByteString.CopyFrom(cid.Encoded.Span) });
        Assert.Equal(new HashSet<ByteString> { Id(a), Id(b) }, providers.Select(p => p.Peer.Id).ToHashSet());
        Assert.Single(await StreamAsync(c, new DHTRequest { Type = DHTRequest.Types.Type.FindProviders, Cid = ByteString.CopyFrom(cid.Encoded.Span), Count = 1 }));

        var missing = await c.RequestAsync(Requests.Dht(new DHTRequest { Type = DHTRequest.Types.Type.GetValue, Key = ByteString.CopyFromUtf8("/pk/nothing") }));
        Assert.Equal(Response.Types.Type.Error, missing.Type);
    }

    /// <summary>A streamed DHT answer: BEGIN in a Response, then VALUEs until END.</summary>
    private static async Task<List<DHTResponse>> StreamAsync(TestDaemon daemon, DHTRequest request)
    {
        await using var client = await daemon.ConnectAsync();
        await client.SendAsync(Requests.Dht(request));
        var begin = await client.ReadAsync(Response.Parser);
        Assert.True(begin.Type == Response.Types.Type.Ok, begin.Error?.Msg);
        Assert.Equal(DHTResponse.Types.Type.Begin, begin.Dht.Type);
        var values = new List<DHTResponse>();
        while (true)
        {
            var next = await client.ReadAsync(DHTResponse.Parser);
            if (next.Type == DHTResponse.Types.Type.End) return values;
            Assert.Equal(DHTResponse.Types.Type.Value, next.Type);
            values.Add(next);
        }
    }

    [Theory]
    [InlineData(PubSubRouter.GossipSub)]
    [InlineData(PubSubRouter.FloodSub)]
    public async Task PubSubRequestsAndTheSubscriptionFeed(PubSubRouter router)
    {
        await using var a = await TestDaemon.StartAsync(s => { s.PubSub = true; s.PubSubRouter = router; });
        await using var b = await TestDaemon.StartAsync(s => { s.PubSub = true; s.PubSubRouter = router; });
        Assert.Equal(Response.Types.Type.Ok, (await a.RequestAsync(Requests.Connect(b))).Type);

        var feed = await b.ConnectAsync();
        await feed.SendAsync(Requests.PubSub(new PSRequest { Type = PSRequest.Types.Type.Subscribe, Topic = "news" }));
        Assert.Equal(Response.Types.Type.Ok, (await feed.ReadAsync(Response.Parser)).Type);
        Assert.Equal(["news"], (await b.RequestAsync(Requests.PubSub(new PSRequest { Type = PSRequest.Types.Type.GetTopics }))).Pubsub.Topics);
        await WaitUntilAsync(async () =>
        {
            var peers = await a.RequestAsync(Requests.PubSub(new PSRequest { Type = PSRequest.Types.Type.ListPeers, Topic = "news" }));
            return peers.Pubsub.PeerIDs.Contains(Id(b));
        }, "a to see b subscribed");
        var all = await a.RequestAsync(Requests.PubSub(new PSRequest { Type = PSRequest.Types.Type.ListPeers }));
        Assert.Contains(Id(b), all.Pubsub.PeerIDs);

        Assert.Equal(Response.Types.Type.Ok, (await a.RequestAsync(Requests.PubSub(new PSRequest
        {
            Type = PSRequest.Types.Type.Publish, Topic = "news", Data = ByteString.CopyFromUtf8("extra"),
        }))).Type);
        var message = await feed.ReadAsync(PSMessage.Parser);
        Assert.Equal("extra", message.Data.ToStringUtf8());
        Assert.Equal(["news"], message.TopicIDs);
        Assert.Equal(Id(a), message.From);
        Assert.Equal(8, message.Seqno.Length);
        Assert.False(message.Signature.IsEmpty);

        // Closing the feed unsubscribes.
        await feed.DisposeAsync();
        await WaitUntilAsync(async () =>
            (await b.RequestAsync(Requests.PubSub(new PSRequest { Type = PSRequest.Types.Type.GetTopics }))).Pubsub.Topics.Count == 0,
            "the subscription to end with its feed");
    }
}
