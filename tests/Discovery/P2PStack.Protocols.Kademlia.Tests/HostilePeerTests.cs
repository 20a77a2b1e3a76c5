using System.Net;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using NSubstitute;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia.Pb;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Protocols.Kademlia.Validation;
using P2PStack.Transports.Memory;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia.Tests;

/// <summary>A peer that floods the DHT server with provider announcements over a real stream.</summary>
public sealed class HostilePeerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly Multiaddr Somewhere = Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001");

    [Fact]
    public async Task A_peer_announcing_past_its_provider_quota_is_refused_and_the_server_keeps_answering()
    {
        var network = new MemoryNetwork();
        await using var victim = await HostIntegrationTests.DhtPeer.StartAsync(network, o => o.ProviderLimits.MaxKeysPerProvider = 3);
        await using var attacker = await HostIntegrationTests.DhtPeer.StartAsync(network, _ => { });
        await attacker.Host.DialAsync(victim.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        int max = victim.Dht.Options.MaxMessageSize;
        byte[][] keys = [.. Enumerable.Range(0, 4).Select(_ => RandomNumberGenerator.GetBytes(34))];

        await using (var stream = await attacker.Host.OpenStreamAsync(victim.Host.PeerId, [KadProtocol.DefaultProtocolId], CancellationToken.None))
        {
            for (int i = 0; i < 3; i++) await KadProtocol.WriteAsync(stream.Output, Announce(attacker.Host.PeerId, keys[i], copies: 1000), max, default);
            await KadProtocol.WriteAsync(stream.Output, new Message { Type = MessageType.Ping }, max, default);
            Assert.Equal(MessageType.Ping, (await KadProtocol.ReadAsync(stream.Input, max, default).AsTask().WaitAsync(Patience)).Type);

            // The fourth key is over the quota: the request is refused and the stream reset (both go out in one flush,
            // so the reset cannot overtake our write).
            LengthPrefixed.WriteMessage(stream.Output, Announce(attacker.Host.PeerId, keys[3], copies: 1));
            LengthPrefixed.WriteMessage(stream.Output, new Message { Type = MessageType.Ping });
            await stream.Output.FlushAsync();
            await Assert.ThrowsAsync<StreamResetException>(() => KadProtocol.ReadAsync(stream.Input, max, default).AsTask().WaitAsync(Patience));
        }

        var store = victim.Get<IProviderStore>();
        for (int i = 0; i < 3; i++)
            Assert.Equal(attacker.Host.PeerId, Assert.Single(await store.GetProvidersAsync(keys[i], DateTimeOffset.MinValue, default)).Provider);
        Assert.Empty(await store.GetProvidersAsync(keys[3], DateTimeOffset.MinValue, default));

        // The server still answers the same peer on a new stream.
        await using var next = await attacker.Host.OpenStreamAsync(victim.Host.PeerId, [KadProtocol.DefaultProtocolId], CancellationToken.None);
        await KadProtocol.WriteAsync(next.Output, new Message { Type = MessageType.Ping }, max, default);
        Assert.Equal(MessageType.Ping, (await KadProtocol.ReadAsync(next.Input, max, default).AsTask().WaitAsync(Patience)).Type);
    }

    [Fact]
    public async Task An_announcement_repeating_the_senders_entry_costs_one_store_write()
    {
        var self = TestPeers.Random();
        var sender = TestPeers.Random();
        var providers = Substitute.For<IProviderStore>();
        var handler = new KadRequestHandler(self, new KademliaOptions(), new RoutingTable(self, 20), new NoDirectory(),
            new InMemoryRecordStore(), providers, TimeProvider.System);

        await handler.HandleAsync(sender, Announce(sender, RandomNumberGenerator.GetBytes(34), copies: 10_000), default);

        await providers.Received(1).AddProviderAsync(Arg.Any<ReadOnlyMemory<byte>>(), Arg.Is<ProviderRecord>(r => r.Provider == sender),
            Arg.Any<CancellationToken>());
    }

    private static Message PutPublicKey(PrivateKey key)
    {
        var record = new Pb.Record
        {
            Key = ByteString.CopyFrom(PublicKeyValidator.KeyFor(PeerId.FromPublicKey(key.PublicKey))),
            Value = ByteString.CopyFrom(key.PublicKey.ToProtobuf()),
        };
        return new Message { Type = MessageType.PutValue, Key = record.Key, Record = record };
    }

    /// <summary>Attack path 7: one peer fills the record store with valid /pk records of throwaway keys. The node's own
    /// publications must still be stored (they displace the flooder's records), and the flooder is held to its
    /// per-peer quota while other peers keep theirs.</summary>
    [Fact]
    public async Task Throwaway_pk_records_from_one_peer_neither_block_local_publishing_nor_other_peers()
    {
        var self = TestPeers.Random();
        var flooder = TestPeers.Random();
        var options = new KademliaOptions();
        options.RecordLimits.MaxRecords = 8;
        var records = new InMemoryRecordStore(options.RecordLimits);
        var handler = new KadRequestHandler(self, options, new RoutingTable(self, 20), new NoDirectory(), records,
            new InMemoryProviderStore(), TimeProvider.System);

        for (int i = 0; i < 8; i++)
        {
            using var key = PrivateKey.Generate(KeyType.Ed25519);
            try { await handler.HandleAsync(flooder, PutPublicKey(key), default); }
            catch (DhtStoreLimitException) { } // refused once over its quota: fine
        }

        using var own = PrivateKey.Generate(KeyType.Ed25519);
        byte[] ownKey = PublicKeyValidator.KeyFor(PeerId.FromPublicKey(own.PublicKey));
        await handler.StoreValidatedAsync(ownKey, own.PublicKey.ToProtobuf(), default);
        Assert.NotNull(await records.GetAsync(ownKey, default));
    }

    [Fact]
    public async Task One_peer_is_held_to_its_record_quota_while_others_still_store()
    {
        var self = TestPeers.Random();
        var flooder = TestPeers.Random();
        var honest = TestPeers.Random();
        var options = new KademliaOptions();
        options.RecordLimits.MaxRecordsPerPeer = 3;
        var handler = new KadRequestHandler(self, options, new RoutingTable(self, 20), new NoDirectory(),
            new InMemoryRecordStore(options.RecordLimits), new InMemoryProviderStore(), TimeProvider.System);
        for (int i = 0; i < 3; i++)
        {
            using var key = PrivateKey.Generate(KeyType.Ed25519);
            await handler.HandleAsync(flooder, PutPublicKey(key), default);
        }
        using var fourth = PrivateKey.Generate(KeyType.Ed25519);
        var refused = await Assert.ThrowsAsync<DhtStoreLimitException>(() => handler.HandleAsync(flooder, PutPublicKey(fourth), default));
        Assert.Contains("per peer", refused.Message);
        using var honestKey = PrivateKey.Generate(KeyType.Ed25519);
        Assert.NotNull(await handler.HandleAsync(honest, PutPublicKey(honestKey), default));
    }

    private static Message Announce(PeerId provider, byte[] key, int copies)
    {
        var message = new Message { Type = MessageType.AddProvider, Key = ByteString.CopyFrom(key) };
        var entry = KadProtocol.ToWire(new PeerInfo(provider, [Somewhere]), ConnectionType.Connected);
        for (int i = 0; i < copies; i++) message.ProviderPeers.Add(entry);
        return message;
    }

    private sealed class NoDirectory : IKadPeerDirectory
    {
        public IReadOnlyList<Multiaddr> LocalAddresses => [];

        public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer) => [];

        public void AddAddresses(PeerId peer, IReadOnlyList<Multiaddr> addresses, TimeSpan ttl)
        {
        }

        public bool IsConnected(PeerId peer) => false;

        public IReadOnlyCollection<IPAddress> GetConnectedIPs(PeerId peer) => [];
    }
}
