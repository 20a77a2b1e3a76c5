using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;
using P2PStack.Security.Noise;
using P2PStack.Transports.Memory;

namespace P2PStack.Protocols.GossipSub.Tests;

/// <summary>A real host (memory transport, Noise, Yamux) with gossipsub, built through DI.</summary>
internal sealed class GossipPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private GossipPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
        PubSub = services.GetRequiredService<GossipSubService>();
        Resources = services.GetRequiredService<ResourceManager>();
    }

    public ResourceManager Resources { get; }

    public PeerHost Host { get; }
    public GossipSubService PubSub { get; }
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<GossipPeer> StartAsync(MemoryNetwork network, Action<GossipSubOptions>? configure = null,
        Action<HostOptions>? host = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(network);
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn("/memory/0");
            if (host is not null) p2p.ConfigureHost(host);
            p2p.AddMemoryTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddGossipSub(o =>
            {
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
                configure?.Invoke(o);
            });
        });
        var provider = services.BuildServiceProvider();
        var peer = new GossipPeer(provider);
        await peer.Host.StartAsync(CancellationToken.None);
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync(); // disposes the host and the gossipsub service
    }
}

public class HostIntegrationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Twenty_hosts_every_subscriber_receives_every_message()
    {
        const int count = 20;
        const string topic = "integration";
        var network = new MemoryNetwork();
        var peers = new List<GossipPeer>();
        try
        {
            for (int i = 0; i < count; i++) peers.Add(await GossipPeer.StartAsync(network));
            var subscriptions = new List<Subscription>();
            foreach (var peer in peers) subscriptions.Add(await peer.PubSub.SubscribeAsync(topic));
            // A ring plus chords: connected, and sparse enough that relaying matters.
            var random = new Random(5);
            for (int i = 0; i < count; i++)
            {
                await peers[i].Host.DialAsync(peers[(i + 1) % count].Address, CancellationToken.None).AsTask().WaitAsync(Patience);
                await peers[i].Host.DialAsync(peers[random.Next(count - 2) switch { var k when k >= i => k + 1, var k => k }].Address,
                    CancellationToken.None).AsTask().WaitAsync(Patience);
            }
            await WaitUntil(() => peers.All(p => p.PubSub.GetPeers(topic).Count >= 2 && p.PubSub.GetMeshPeers(topic).Count >= 1),
                "subscriptions and meshes");

            var sent = new List<byte[]>();
            for (int m = 0; m < 10; m++)
            {
                var data = System.Text.Encoding.UTF8.GetBytes($"message {m}");
                sent.Add(data);
                await peers[m * 7 % count].PubSub.PublishAsync(topic, data);
            }
            var cts = new CancellationTokenSource(Patience);
            await Task.WhenAll(subscriptions.Select(async subscription =>
            {
                var got = new HashSet<string>();
                await foreach (var message in subscription.WithCancellation(cts.Token))
                {
                    Assert.Equal(topic, message.Topic);
                    got.Add(System.Text.Encoding.UTF8.GetString(message.Data.Span));
                    if (got.Count == sent.Count) break;
                }
                Assert.Equal(sent.Count, got.Count);
            }));
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    /// <summary>Messages beyond a yamux stream window (256 KiB) up to the default maximum message size arrive between
    /// two hosts (memory transport, Noise, Yamux): the RPC reader consumes a frame as it arrives, so window credit
    /// flows back while the frame is still incomplete.</summary>
    [Theory]
    [InlineData(200 * 1024)]
    [InlineData(300 * 1024)]
    [InlineData(900 * 1024)]
    [InlineData(1024 * 1024 - 256)] // the default MaxMessageSize (1 MiB) less the message's own fields
    public async Task Message_larger_than_the_yamux_window_is_delivered(int size)
    {
        const string topic = "large";
        var network = new MemoryNetwork();
        await using var a = await GossipPeer.StartAsync(network);
        await using var b = await GossipPeer.StartAsync(network);
        using var subA = await a.PubSub.SubscribeAsync(topic);
        using var subB = await b.PubSub.SubscribeAsync(topic);
        await a.Host.DialAsync(b.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await WaitUntil(() => a.PubSub.GetPeers(topic).Count == 1 && b.PubSub.GetPeers(topic).Count == 1, "subscriptions");

        var data = new byte[size];
        new Random(size).NextBytes(data);
        await a.PubSub.PublishAsync(topic, data);
        using var cts = new CancellationTokenSource(Patience);
        var received = await subB.Reader.ReadAsync(cts.Token);
        Assert.Equal(size, received.Data.Length);
        Assert.True(received.Data.Span.SequenceEqual(data));
    }

    [Fact]
    public async Task A_floodsub_only_router_floods_to_and_from_a_gossipsub_router_through_a_relaying_floodsub_node()
    {
        const string topic = "flood";
        var network = new MemoryNetwork();
        await using var gossip = await GossipPeer.StartAsync(network);
        await using var relay = await GossipPeer.StartAsync(network, o => o.Protocols = [GossipSubProtocols.FloodSub]);
        await using var flood = await GossipPeer.StartAsync(network, o => o.Protocols = [GossipSubProtocols.FloodSub]);
        Assert.Contains(GossipSubProtocols.FloodSub, relay.Host.Protocols);
        Assert.DoesNotContain(relay.Host.Protocols, p => p.StartsWith("/meshsub/", StringComparison.Ordinal));

        // gossip <-> relay <-> flood: every message crosses the floodsub relay, which has no mesh and floods.
        await gossip.Host.DialAsync(relay.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await flood.Host.DialAsync(relay.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var atGossip = await gossip.PubSub.SubscribeAsync(topic);
        var atRelay = await relay.PubSub.SubscribeAsync(topic);
        var atFlood = await flood.PubSub.SubscribeAsync(topic);
        await WaitUntil(() => relay.PubSub.GetPeers(topic).Count == 2 && gossip.PubSub.GetPeers(topic).Count == 1 && flood.PubSub.GetPeers(topic).Count == 1,
            "topic peers on every node");
        Assert.Empty(relay.PubSub.GetMeshPeers(topic));

        using var cts = new CancellationTokenSource(Patience);
        await gossip.PubSub.PublishAsync(topic, "from gossipsub"u8.ToArray());
        Assert.Equal("from gossipsub"u8.ToArray(), (await atFlood.Reader.ReadAsync(cts.Token)).Data.ToArray());
        Assert.Equal("from gossipsub"u8.ToArray(), (await atRelay.Reader.ReadAsync(cts.Token)).Data.ToArray());
        Assert.Equal("from gossipsub"u8.ToArray(), (await atGossip.Reader.ReadAsync(cts.Token)).Data.ToArray()); // its own copy
        await flood.PubSub.PublishAsync(topic, "from floodsub"u8.ToArray());
        Assert.Equal("from floodsub"u8.ToArray(), (await atGossip.Reader.ReadAsync(cts.Token)).Data.ToArray());
        Assert.Equal("from floodsub"u8.ToArray(), (await atRelay.Reader.ReadAsync(cts.Token)).Data.ToArray());
    }

    [Fact]
    public void Router_protocols_must_be_pubsub_protocol_ids()
    {
        Assert.Throws<ArgumentException>(() => new GossipSubOptions { Protocols = [] }.Validate());
        Assert.Throws<ArgumentException>(() => new GossipSubOptions { Protocols = ["/meshsub/9.9.9"] }.Validate());
        new GossipSubOptions { Protocols = [GossipSubProtocols.MeshSubV11, GossipSubProtocols.FloodSub] }.Validate();
    }

    [Fact]
    public async Task Validator_rejection_stops_delivery_and_penalises_the_sender()
    {
        const string topic = "validated";
        var network = new MemoryNetwork();
        // Only P4 counts, so the score shows the rejection alone.
        static void OnlyP4(GossipSubOptions o) => o.ScoreParams.Topics[topic] = new TopicScoreParams
        {
            TimeInMeshWeight = 0, FirstMessageDeliveriesWeight = 0, MeshMessageDeliveriesWeight = 0,
            InvalidMessageDeliveriesDecay = 0.99,
        };
        await using var a = await GossipPeer.StartAsync(network, OnlyP4);
        await using var b = await GossipPeer.StartAsync(network, OnlyP4);
        using var subA = await a.PubSub.SubscribeAsync(topic);
        using var subB = await b.PubSub.SubscribeAsync(topic);
        using var _ = b.PubSub.RegisterValidator(topic, m => m.Data.Span[0] == 0 ? ValidationResult.Reject : ValidationResult.Accept);
        await a.Host.DialAsync(b.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await WaitUntil(() => a.PubSub.GetPeers(topic).Count == 1 && b.PubSub.GetPeers(topic).Count == 1, "subscriptions");

        await a.PubSub.PublishAsync(topic, new byte[] { 0 });
        await a.PubSub.PublishAsync(topic, new byte[] { 1 });
        using var cts = new CancellationTokenSource(Patience);
        var received = await subB.Reader.ReadAsync(cts.Token);
        Assert.Equal(1, received.Data.Span[0]);
        Assert.Equal(a.Host.PeerId, received.Author);
        await WaitUntil(() => b.PubSub.GetScore(a.Host.PeerId) < 0, "the P4 penalty");
        await Assert.ThrowsAsync<MessageRejectedException>(() => b.PubSub.PublishAsync(topic, new byte[] { 0 }));
    }

    [Fact]
    public async Task A_topic_whose_validators_are_all_disposed_is_forgotten_and_the_others_still_validate()
    {
        // A signaling host registers a validator for each swarm a light peer asks it to relay, and disposes it when the
        // relay ends: the topics come from remote input, so a disposed registration must leave nothing behind.
        var network = new MemoryNetwork();
        await using var peer = await GossipPeer.StartAsync(network);
        for (int i = 0; i < 100; i++)
        {
            using var registration = peer.PubSub.RegisterValidator($"/swarm/{i}", _ => ValidationResult.Accept);
        }
        Assert.Equal(0, peer.PubSub.ValidatedTopicCount);

        using var kept = peer.PubSub.RegisterValidator("kept", _ => ValidationResult.Reject);
        var second = peer.PubSub.RegisterValidator("kept", _ => ValidationResult.Accept);
        second.Dispose();
        Assert.Equal(1, peer.PubSub.ValidatedTopicCount);
        await Assert.ThrowsAsync<MessageRejectedException>(() => peer.PubSub.PublishAsync("kept", new byte[] { 1 }));
    }
}
