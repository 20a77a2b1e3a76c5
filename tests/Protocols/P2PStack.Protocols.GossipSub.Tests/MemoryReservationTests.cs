using Microsoft.Extensions.DependencyInjection;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Protocols.GossipSub.Tests;

/// <summary>
/// Gossipsub's queues reserve their memory in the resource manager's <c>service gossipsub</c> scope: a subscriber
/// that never reads cannot make the node hold more than the scope allows (what does not fit is dropped and counted),
/// and everything reserved is returned once RPCs are written and peers are gone.
/// </summary>
public class MemoryReservationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const long ServiceLimit = 512 * 1024;

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }

    private static ServiceProvider BareHost(MemoryNetwork network)
    {
        var services = new ServiceCollection();
        services.AddSingleton(network);
        services.AddP2PStack(p2p => p2p.ListenOn("/memory/0").AddMemoryTransport().AddNoise().AddYamux());
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task A_subscriber_that_never_reads_fills_at_most_the_scope_and_everything_is_released_when_it_leaves()
    {
        const string topic = "reserved";
        var network = new MemoryNetwork();
        await using var victim = await GossipPeer.StartAsync(network,
            o => o.WriteTimeout = TimeSpan.FromMinutes(5), // the queue must stay full for the test, not be reset
            h => h.Resources.Limits = ResourceLimits.Unlimited with
            {
                Services = new Dictionary<string, ResourceLimit> { [GossipSubService.ResourceService] = new() { Memory = ServiceLimit } },
            });
        var scope = victim.Resources.Service(GossipSubService.ResourceService);

        var attackerServices = BareHost(network);
        var attacker = attackerServices.GetRequiredService<PeerHost>();
        var sink = new NeverReads();
        using var registration = attacker.AddHandler(sink);
        await attacker.StartAsync(CancellationToken.None);
        using var victimSubscription = await victim.PubSub.SubscribeAsync(topic);
        await attacker.DialAsync(victim.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await using (var ours = await attacker.OpenStreamAsync(victim.Host.PeerId, [GossipSubProtocols.MeshSubV11], CancellationToken.None))
        {
            var hello = new Pb.RPC { Subscriptions = { new Pb.RPC.Types.SubOpts { Subscribe = true, Topicid = topic } } };
            P2PStack.IO.LengthPrefixed.WriteMessage(ours.Output, hello);
            await ours.Output.FlushAsync();
            await WaitUntil(() => victim.PubSub.GetPeers(topic).Contains(attacker.PeerId), "the attacker's subscription");
            await WaitUntil(() => { lock (sink.Streams) return sink.Streams.Count > 0; }, "the victim's stream to the attacker");

            // 40 x 60 KiB = 2.4 MB for the attacker: one yamux window (256 KiB) goes out, the queue (256 RPCs) would
            // hold the rest; the scope lets the outbound queues fill only half of its 512 KiB (priority 127).
            var data = new byte[60 * 1024];
            long peak = 0;
            for (int i = 0; i < 40; i++)
            {
                await victim.PubSub.PublishAsync(topic, data);
                peak = Math.Max(peak, scope.Usage.Memory);
            }
            Assert.InRange(peak, 1, ServiceLimit / 2);
            var stat = victim.Resources.Snapshot().Single(s => s.Name == $"service {GossipSubService.ResourceService}");
            Assert.True(stat.Refusals > 0, "the scope refused the RPCs that did not fit");
            Assert.Equal(ServiceLimit, stat.Limit.Memory);
        }

        // The attacker goes away: its queue is dropped and the scope returns to zero.
        await attackerServices.DisposeAsync();
        await WaitUntil(() => scope.Usage.Memory == 0, "the gossipsub scope to return to zero");
    }

    [Fact]
    public async Task A_burst_to_a_reading_subscriber_returns_the_scope_to_zero_and_shows_in_the_snapshot()
    {
        const string topic = "burst";
        var network = new MemoryNetwork();
        await using var publisher = await GossipPeer.StartAsync(network);
        await using var subscriber = await GossipPeer.StartAsync(network);
        Assert.Contains(publisher.Resources.Snapshot(), s => s.Kind == "service" && s.Name == "service gossipsub");
        using var subscription = await subscriber.PubSub.SubscribeAsync(topic);
        using var own = await publisher.PubSub.SubscribeAsync(topic);
        await subscriber.Host.DialAsync(publisher.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await WaitUntil(() => publisher.PubSub.GetPeers(topic).Contains(subscriber.Host.PeerId), "the subscription");

        for (int i = 0; i < 200; i++) await publisher.PubSub.PublishAsync(topic, new byte[8 * 1024]);
        using var cts = new CancellationTokenSource(Patience);
        for (int i = 0; i < 200; i++) await subscription.Reader.ReadAsync(cts.Token);

        var sent = publisher.Resources.Service(GossipSubService.ResourceService);
        var received = subscriber.Resources.Service(GossipSubService.ResourceService);
        await WaitUntil(() => sent.Usage.Memory == 0 && received.Usage.Memory == 0, "both scopes to return to zero");
        Assert.Equal(0, publisher.Resources.Snapshot().Single(s => s.Name == "service gossipsub").Refusals);
    }

    private sealed class NeverReads : IProtocolHandler
    {
        public readonly List<IStream> Streams = [];

        public IReadOnlyList<string> Protocols => GossipSubProtocols.All;

        public Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            lock (Streams) Streams.Add(stream);
            return Task.Delay(Timeout.Infinite, cancellationToken);
        }
    }
}
