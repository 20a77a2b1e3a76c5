using Google.Protobuf;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Pb;
using P2PStack.Protocols.Kademlia.Validation;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;
using Record = P2PStack.Protocols.Kademlia.Pb.Record;

namespace P2PStack.Protocols.Kademlia.Tests;

/// <summary>Whole DHT nodes over the in-process <see cref="FakeNetwork"/>.</summary>
public class DhtNetworkTests
{
    private static async Task<(FakeNetwork Network, List<KademliaDht> Nodes)> BootstrappedAsync(int count)
    {
        var network = new FakeNetwork();
        var first = network.AddNode();
        var nodes = new List<KademliaDht> { first };
        for (int i = 1; i < count; i++)
        {
            var node = network.AddNode(o => o.BootstrapPeers.Add(network.AddressOf(first)));
            await node.BootstrapAsync(default);
            nodes.Add(node);
        }
        // A second round lets early nodes learn of the later ones.
        foreach (var node in nodes) await node.RefreshAsync(default);
        return (network, nodes);
    }

    [Fact]
    public async Task BootstrapWithoutReachablePeersFails()
    {
        var network = new FakeNetwork();
        await Assert.ThrowsAsync<DhtNoPeersException>(() => network.AddNode().BootstrapAsync(default));
        var ghost = network.AddNode();
        network.SetOffline(ghost.Self, true);
        var node = network.AddNode(o => o.BootstrapPeers.Add(network.AddressOf(ghost)));
        await Assert.ThrowsAsync<DhtNoPeersException>(() => node.BootstrapAsync(default));
    }

    [Fact]
    public async Task EveryNodeFindsEveryOtherNode()
    {
        var (_, nodes) = await BootstrappedAsync(30);
        foreach (var node in nodes.Take(10))
            foreach (var target in nodes.Where(n => n != node))
            {
                var found = await node.FindPeerAsync(target.Self, default);
                Assert.Equal(target.Self, found.Peer);
                Assert.NotEmpty(found.Addresses);
            }
    }

    [Fact]
    public async Task ClosestPeersAreTheTrueClosest()
    {
        var (_, nodes) = await BootstrappedAsync(40);
        var key = "/some/key"u8.ToArray();
        var target = KadKey.FromKey(key);
        var expected = nodes.Skip(1).Select(n => n.Self)
            .OrderBy(p => KadKey.FromPeer(p).Xor(target), Comparer<KadKey>.Create((a, b) => a.CompareTo(b))).Take(20);
        Assert.Equal(expected, await nodes[0].GetClosestPeersAsync(key, default));
    }

    [Fact]
    public async Task PublicKeyRecordsArePutAndGotAcrossTheNetwork()
    {
        var (_, nodes) = await BootstrappedAsync(30);
        using var key = PrivateKey.Generate();
        var recordKey = PublicKeyValidator.KeyFor(PeerId.FromPublicKey(key.PublicKey));
        int stored = await nodes[3].PutValueAsync(recordKey, key.PublicKey.ToProtobuf(), default);
        Assert.Equal(20, stored);
        foreach (var node in nodes)
            Assert.Equal(key.PublicKey.ToProtobuf(), await node.GetValueAsync(recordKey, default));

        // Invalid records are refused locally and remotely.
        using var other = PrivateKey.Generate();
        await Assert.ThrowsAsync<InvalidRecordException>(() => nodes[4].PutValueAsync(recordKey, other.PublicKey.ToProtobuf(), default));
        await Assert.ThrowsAsync<DhtNotFoundException>(() => nodes[5].GetValueAsync(PublicKeyValidator.KeyFor(PeerId.FromPublicKey(other.PublicKey)), default));
    }

    [Fact]
    public async Task GetValueCorrectsPeersWithAStaleValue()
    {
        var (_, nodes) = await BootstrappedAsync(25);
        foreach (var node in nodes)
        {
            node.Options.Validator.Add("v", new VersionValidator());
            // Without an early quorum the lookup asks every holder, so the stale one is certainly among the answers
            // (correction reaches only peers the lookup heard from, as the spec describes).
            node.Options.GetValueQuorum = int.MaxValue;
        }
        byte[] key = "/v/counter"u8.ToArray();
        await nodes[0].PutValueAsync(key, new byte[] { 1 }, default);
        await nodes[0].PutValueAsync(key, new byte[] { 5 }, default);
        // One holder gets an older version behind the DHT's back.
        // The holder closest to the key: every converged lookup asks it.
        var target = KadKey.FromKey(key);
        KademliaDht? holder = null;
        foreach (var node in nodes.Skip(1).OrderBy(n => KadKey.FromPeer(n.Self), Comparer<KadKey>.Create(target.CompareDistance)))
        {
            if (await node.RequestHandler.GetFreshRecordAsync(key, default) is null) continue;
            holder = node;
            break;
        }
        Assert.NotNull(holder);
        var records = (Storage.IDhtRecordStore)typeof(KademliaDht).GetField("_records", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(holder)!;
        await records.PutAsync(new Storage.DhtRecord(key, [2], DateTimeOffset.UtcNow), default);

        Assert.Equal([5], await nodes[7].GetValueAsync(key, default));
        Assert.Equal([5], (await holder.RequestHandler.GetFreshRecordAsync(key, default))!.Value);
    }

    [Fact]
    public async Task ProvidersAreFoundFromEveryNode()
    {
        var (_, nodes) = await BootstrappedAsync(30);
        var cid = Cid.V1(Multicodec.Raw, Multihash.Sha2_256("hello"u8));
        Assert.Empty(await nodes[9].FindProvidersAsync(cid, default));
        Assert.Equal(20, await nodes[2].ProvideAsync(cid, default));
        Assert.Equal(20, await nodes[11].ProvideAsync(cid, default));
        foreach (var node in nodes)
        {
            var providers = await node.FindProvidersAsync(cid, default);
            Assert.Contains(providers, p => p.Peer == nodes[2].Self && p.Addresses.Count == 1);
            Assert.Contains(providers, p => p.Peer == nodes[11].Self);
        }
    }

    [Fact]
    public async Task LookupsSurviveOfflineNodesAndDropThemFromTables()
    {
        var (network, nodes) = await BootstrappedAsync(30);
        foreach (var node in nodes.Skip(20)) network.SetOffline(node.Self, true);
        foreach (var target in nodes.Take(20).Skip(1))
            Assert.Equal(target.Self, (await nodes[0].FindPeerAsync(target.Self, default)).Peer);
        await Assert.ThrowsAsync<DhtNotFoundException>(() => nodes[0].FindPeerAsync(TestPeers.Random(), default));
        // Offline peers that were asked left the table.
        var offline = nodes.Skip(20).Select(n => n.Self).ToHashSet();
        Assert.True(nodes[0].RoutingTable.GetPeers().Count(offline.Contains) < offline.Count);
    }

    [Fact]
    public async Task HandlerRefusesMalformedRequestsWithTypedErrors()
    {
        var (_, nodes) = await BootstrappedAsync(3);
        var handler = nodes[0].RequestHandler;
        var from = nodes[1].Self;
        async Task Refused<T>(Message request) where T : Exception =>
            await Assert.ThrowsAsync<T>(() => handler.HandleAsync(from, request, default));

        await Refused<KadProtocolException>(new Message { Type = MessageType.FindNode });
        await Refused<KadProtocolException>(new Message { Type = MessageType.GetValue });
        await Refused<KadProtocolException>(new Message { Type = (MessageType)42, Key = ByteString.CopyFromUtf8("x") });
        await Refused<KadProtocolException>(new Message { Type = MessageType.PutValue, Key = ByteString.CopyFromUtf8("/pk/x") });
        await Refused<KadProtocolException>(new Message
        {
            Type = MessageType.PutValue, Key = ByteString.CopyFromUtf8("/pk/x"), Record = new Record { Key = ByteString.CopyFromUtf8("/pk/y") },
        });
        await Refused<InvalidRecordException>(new Message
        {
            Type = MessageType.PutValue, Key = ByteString.CopyFromUtf8("/pk/x"), Record = new Record { Key = ByteString.CopyFromUtf8("/pk/x"), Value = ByteString.CopyFrom(1) },
        });
        await Refused<KadProtocolException>(new Message { Type = MessageType.GetProviders, Key = ByteString.CopyFrom(new byte[81]) });
        // ADD_PROVIDER for someone else is ignored (and with nobody valid, refused).
        var addForOther = new Message { Type = MessageType.AddProvider, Key = ByteString.CopyFrom(new byte[34]) };
        addForOther.ProviderPeers.Add(KadProtocol.ToWire(new PeerInfo(nodes[2].Self, [P2PStack.Addressing.Multiaddr.Parse("/ip4/1.1.1.1/tcp/1")]), ConnectionType.Connected));
        await Refused<KadProtocolException>(addForOther);

        var ping = await handler.HandleAsync(from, new Message { Type = MessageType.Ping }, default);
        Assert.Equal(MessageType.Ping, ping!.Type);
        var find = await handler.HandleAsync(from, new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(nodes[2].Self.Bytes.Span) }, default);
        Assert.Equal(nodes[2].Self, PeerId.FromBytes(find!.CloserPeers[0].Id.Span));
        Assert.DoesNotContain(find.CloserPeers, p => p.Id.Span.SequenceEqual(from.Bytes.Span));
    }

    /// <summary>Values are one version byte; higher wins.</summary>
    private sealed class VersionValidator : IRecordValidator
    {
        public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            if (value.Length != 1) throw new InvalidRecordException("one byte expected");
        }

        public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
        {
            int best = 0;
            for (int i = 1; i < values.Count; i++) if (values[i].Span[0] > values[best].Span[0]) best = i;
            return best;
        }
    }
}
