using Microsoft.Extensions.DependencyInjection;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Protocols.GossipSub.Tests;

/// <summary>A connected peer that writes hand-made frames on a pubsub stream.</summary>
public class HostilePeerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

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

    [Theory]
    [InlineData("oversized frame")]
    [InlineData("garbage protobuf")]
    public async Task Bad_frames_are_penalised_and_the_node_keeps_relaying_for_others(string attack)
    {
        const string topic = "hostile";
        var network = new MemoryNetwork();
        static void SlowDecay(GossipSubOptions o) => o.ScoreParams.BehaviourPenaltyDecay = 0.99; // keep the penalty visible
        await using var victim = await GossipPeer.StartAsync(network, SlowDecay);
        await using var honest = await GossipPeer.StartAsync(network);
        // A bare host: no gossipsub of its own, so the hand-made stream is its only pubsub stream to the victim.
        await using var attackerServices = BareHost(network);
        var attacker = new { Host = attackerServices.GetRequiredService<PeerHost>() };
        await attacker.Host.StartAsync(CancellationToken.None);
        using var subscription = await victim.PubSub.SubscribeAsync(topic);
        using var honestSubscription = await honest.PubSub.SubscribeAsync(topic);
        await honest.Host.DialAsync(victim.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await attacker.Host.DialAsync(victim.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await WaitUntil(() => victim.PubSub.GetPeers(topic).Count == 1 && honest.PubSub.GetPeers(topic).Count == 1, "subscriptions");

        await using (var stream = await attacker.Host.OpenStreamAsync(victim.Host.PeerId, [GossipSubProtocols.MeshSubV12], CancellationToken.None))
        {
            byte[] frame = attack == "oversized frame"
                ? [0x80, 0x80, 0x80, 0x01] // announces 2 MiB, over MaxRpcSize
                : [0x04, 0xff, 0xff, 0xff, 0xff]; // a whole frame that is not an RPC
            await stream.Output.WriteAsync(frame);
            if (attack == "oversized frame")
            {
                // The framing cannot be resynchronised: the stream is reset.
                await Assert.ThrowsAsync<StreamResetException>(() => stream.Input.ReadAsync().AsTask().WaitAsync(Patience));
            }

            await WaitUntil(() => victim.PubSub.GetScore(attacker.Host.PeerId) < 0, "the behaviour penalty");
        }

        await honest.PubSub.PublishAsync(topic, "still relaying"u8.ToArray());
        using var cts = new CancellationTokenSource(Patience);
        var received = await subscription.Reader.ReadAsync(cts.Token);
        Assert.Equal("still relaying"u8.ToArray(), received.Data.ToArray());
        Assert.Equal(honest.Host.PeerId, received.Author);
    }

    /// <summary>Accepts pubsub streams and never reads them: our writes to it stall once the yamux window is spent.</summary>
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

    /// <summary>Attack path 9: a subscriber that never reads stalls our write loop on its flush for ever (and holds
    /// its queued RPCs). The flush now has a time limit: past it the stream is reset.</summary>
    [Fact]
    public async Task A_subscriber_that_never_reads_has_its_stream_reset_after_the_write_timeout()
    {
        const string topic = "stalled";
        var network = new MemoryNetwork();
        await using var victim = await GossipPeer.StartAsync(network, o => o.WriteTimeout = TimeSpan.FromSeconds(1));
        await using var attackerServices = BareHost(network);
        var attacker = attackerServices.GetRequiredService<PeerHost>();
        var sink = new NeverReads();
        using var registration = attacker.AddHandler(sink);
        await attacker.StartAsync(CancellationToken.None);
        using var subscription = await victim.PubSub.SubscribeAsync(topic);
        await attacker.DialAsync(victim.Address, CancellationToken.None).AsTask().WaitAsync(Patience);

        await using var ours = await attacker.OpenStreamAsync(victim.Host.PeerId, [GossipSubProtocols.MeshSubV11], CancellationToken.None);
        var hello = new Pb.RPC { Subscriptions = { new Pb.RPC.Types.SubOpts { Subscribe = true, Topicid = topic } } };
        P2PStack.IO.LengthPrefixed.WriteMessage(ours.Output, hello);
        await ours.Output.FlushAsync();
        await WaitUntil(() => victim.PubSub.GetPeers(topic).Contains(attacker.PeerId), "the attacker's subscription");
        await WaitUntil(() => { lock (sink.Streams) return sink.Streams.Count > 0; }, "the victim's stream to the attacker");

        var data = new byte[60 * 1024];
        for (int i = 0; i < 12; i++) await victim.PubSub.PublishAsync(topic, data); // 720 KiB: well over one window

        IStream first;
        lock (sink.Streams) first = sink.Streams[0];
        await WaitUntil(() =>
        {
            try
            {
                // Look without consuming (consuming would grant the victim window).
                if (first.Input.TryRead(out var result)) first.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                return false;
            }
            catch (StreamResetException)
            {
                return true;
            }
        }, "the stalled stream to be reset");
    }
}
