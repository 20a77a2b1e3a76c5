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
}
