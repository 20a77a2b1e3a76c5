using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>
/// A C# node as a library user composes it: TCP on 127.0.0.1, Noise, Yamux, identify, ping, Kademlia
/// (<c>/ipfs/kad/1.0.0</c>, with the <c>/test</c> validator) and gossipsub (StrictSign). Received pubsub messages are
/// collected per topic.
/// </summary>
public sealed class CSharpNode : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly ConcurrentDictionary<string, (Subscription Subscription, Task Reader, ConcurrentQueue<PubSubMessage> Messages)> _topics = new();

    private CSharpNode(ServiceProvider services, string name)
    {
        _services = services;
        Name = name;
        Host = services.GetRequiredService<PeerHost>();
        Dht = services.GetRequiredService<KademliaDht>();
        Kademlia = services.GetRequiredService<KademliaHostedService>();
        PubSub = services.GetRequiredService<GossipSubService>(); // before any connection, so it sees them all
    }

    public string Name { get; }

    public PeerHost Host { get; }

    public PeerId PeerId => Host.PeerId;

    public PublicKey PublicKey => _services.GetRequiredService<P2PStack.Network.ILocalIdentity>().PrivateKey.PublicKey;

    public KademliaDht Dht { get; }

    public KademliaHostedService Kademlia { get; }

    public GossipSubService PubSub { get; }

    /// <summary>The TCP listen address with /p2p, as other nodes dial it.</summary>
    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public override string ToString() => $"{Name} (C# {PeerId})";

    public static async Task<CSharpNode> StartAsync(string name, DhtMode mode = DhtMode.Server)
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn("/ip4/127.0.0.1/tcp/0");
            p2p.AddTcpTransport();
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify();
            p2p.AddPing();
            p2p.AddKademlia(o =>
            {
                o.Mode = mode;
                o.RefreshInterval = TimeSpan.Zero; // the tests decide when lookups happen
                o.Validator.Add(TestRecordValidator.Namespace, new TestRecordValidator());
            });
            p2p.AddGossipSub(o =>
            {
                o.SignaturePolicy = SignaturePolicy.StrictSign;
                o.HeartbeatInterval = TimeSpan.FromMilliseconds(700);
            });
        });
        var node = new CSharpNode(services.BuildServiceProvider(), name);
        try
        {
            await node.Host.StartAsync(CancellationToken.None);
            await node.Kademlia.StartAsync(CancellationToken.None);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Subscribes and keeps every message delivered on the topic.</summary>
    public async Task SubscribeAsync(string topic)
    {
        var subscription = await PubSub.SubscribeAsync(topic);
        var messages = new ConcurrentQueue<PubSubMessage>();
        var reader = Task.Run(async () =>
        {
            await foreach (var message in subscription) messages.Enqueue(message);
        });
        if (!_topics.TryAdd(topic, (subscription, reader, messages))) throw new InvalidOperationException($"{Name} already subscribed to {topic}");
    }

    /// <summary>Messages received on <paramref name="topic"/> from other nodes (our own are left out).</summary>
    public IReadOnlyList<PubSubMessage> Received(string topic) =>
        _topics.TryGetValue(topic, out var entry) ? [.. entry.Messages.Where(m => m.Author != PeerId)] : [];

    public async ValueTask DisposeAsync()
    {
        foreach (var (subscription, reader, _) in _topics.Values)
        {
            subscription.Dispose();
            await reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        }
        await Kademlia.StopAsync(CancellationToken.None);
        await PubSub.DisposeAsync();
        // A graceful close waits for the remote to end the streams it opened (js keeps its pubsub stream open until
        // the connection goes): these tests do not test closing, so give it a short while, then abort.
        using (var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(500)))
        {
            try { await Host.StopAsync(quick.Token); }
            catch (OperationCanceledException) { }
        }
        await Host.DisposeAsync();
        await _services.DisposeAsync();
    }
}
