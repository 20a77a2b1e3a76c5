using Google.Protobuf;
using P2PStack.IO;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>Two real hosts over the memory transport.</summary>
public class TwoNodeTests
{
    private static readonly TimeSpan Patience = NeuralPeer.Patience;

    private static async Task<(NeuralPeer A, NeuralPeer B)> StartPairAsync(Action<NeuralMeshOptions>? configure = null)
    {
        var network = new MemoryNetwork();
        var a = await NeuralPeer.StartAsync(network, configure);
        var b = await NeuralPeer.StartAsync(network, configure);
        await a.ConnectAsync(b);
        await NeuralPeer.WaitUntil(() => a.Dht.RoutingTable.Count == 1 && b.Dht.RoutingTable.Count == 1, "the DHT routing tables");
        return (a, b);
    }

    [Fact]
    public async Task Agents_exchange_every_message_type_and_commands_get_responses()
    {
        var (a, b) = await StartPairAsync();
        await using var _ = a;
        await using var __ = b;
        await a.Mesh.RegisterAgentAsync("agent-a");
        Assert.True(await b.Mesh.RegisterAgentAsync("agent-b") >= 1);
        Assert.Equal(b.PeerId, await a.Mesh.ResolveAgentAsync("agent-b").WaitAsync(Patience));

        using var listener = b.Mesh.Listen("agent-b");
        var sent = new List<NeuralMessageId>();
        foreach (var info in NeuralMessageTypes.All.Where(i => i.Type != MessageType.Response))
        {
            var body = TestMessages.SampleBody(info.Type);
            var posted = await a.Mesh.PostAsync(NeuralDestination.Agent("agent-b"), body,
                new SendOptions { FromAgent = "agent-a", Priority = 7, Ttl = TimeSpan.FromSeconds(30) });
            await posted.Sent.WaitAsync(Patience);
            sent.Add(posted.Id);
        }
        // The command gets answered by b's command handler; a's handler receives that response.
        await NeuralPeer.WaitUntil(() => b.Recorder.Messages.Count == sent.Count && a.Recorder.Messages.Count == 1, "all messages");
        var received = b.Recorder.Messages;
        Assert.Equal(sent, received.Select(m => m.Id));
        foreach (var message in received)
        {
            Assert.Equal(TestMessages.SampleBody(message.Type), message.Body);
            Assert.Equal(a.PeerId, message.SourcePeer);
            Assert.Equal("agent-a", message.SourceAgent);
            Assert.Equal(NeuralDestination.Agent("agent-b"), message.Destination);
            Assert.Equal(7, message.Priority);
            Assert.Equal(0, message.Hops);
        }
        var echoed = Assert.IsType<ReceivedMessage<Response>>(a.Recorder.Messages[0]);
        Assert.Equal(sent[^1], echoed.CorrelationId);
        Assert.Equal(NeuralDestination.Agent("agent-a"), echoed.Destination);

        // The listener saw the same messages, in order.
        var listened = new List<NeuralMessageId>();
        while (listener.Reader.TryRead(out var message)) listened.Add(message.Id);
        Assert.Equal(sent, listened);

        // Request/response through the API: success, a handler failure, and a command nobody handles.
        var reply = await a.Mesh.SendCommandAsync(NeuralDestination.Agent("agent-b"), new Command { Name = "echo", Args = { "hi" } }).WaitAsync(Patience);
        Assert.True(reply.Body.Success);
        Assert.Equal($"{b.PeerId}: hi", reply.Body.Content);
        Assert.Equal(b.PeerId, reply.SourcePeer);
        var failed = await a.Mesh.SendCommandAsync(NeuralDestination.ToPeer(b.PeerId), new Command { Name = "fail" }).WaitAsync(Patience);
        Assert.False(failed.Body.Success);
        Assert.Contains("asked to fail", failed.Body.Error);
        var unknown = await b.Mesh.SendCommandAsync(NeuralDestination.Agent("agent-a"), new Command { Name = "dance" }).WaitAsync(Patience);
        Assert.Contains("no handler for command 'dance'", unknown.Body.Error);

        // A message counts as sent once its write returns, and an answer can overtake that: wait for the third.
        await NeuralPeer.WaitUntil(() => a.Mesh.GetStats().SentByType.GetValueOrDefault("command") >= 3, "the third command counted as sent");
        var stats = a.Mesh.GetStats();
        Assert.Equal(1, stats.SentByType["thought"]);
        Assert.Equal(3, stats.SentByType["command"]);
        Assert.Equal(3, b.Mesh.GetStats().ReceivedByType["command"]);
        Assert.Equal(1, a.Mesh.GetStats().ReceivedByType["command"]);
        Assert.Empty(a.Mesh.GetStats().DroppedByTypeAndReason);
        Assert.Empty(b.Mesh.GetStats().DroppedByTypeAndReason);
    }

    /// <summary>With the size limits raised to 1 MiB, a message several times the yamux window (256 KiB) arrives:
    /// the neural stream reader consumes each frame as it arrives, so window credit flows back.</summary>
    [Fact]
    public async Task Message_larger_than_the_yamux_window_arrives()
    {
        var (a, b) = await StartPairAsync(o =>
        {
            o.MaxMessageSize = 1024 * 1024;
            o.MaxBodySize = 900 * 1024;
        });
        await using var _ = a;
        await using var __ = b;
        await b.Mesh.RegisterAgentAsync("agent-b");
        Assert.Equal(b.PeerId, await a.Mesh.ResolveAgentAsync("agent-b").WaitAsync(Patience));

        var state = new byte[880 * 1024];
        new Random(9).NextBytes(state);
        var body = new SwarmSync { Version = 1, State = ByteString.CopyFrom(state), Content = "large" };
        var posted = await a.Mesh.PostAsync(NeuralDestination.Agent("agent-b"), body, new SendOptions { Ttl = TimeSpan.FromSeconds(60) });
        await posted.Sent.WaitAsync(Patience);
        await NeuralPeer.WaitUntil(() => b.Recorder.Messages.Count == 1, "the large message");
        Assert.Equal(body, b.Recorder.Messages[0].Body);
    }

    [Fact]
    public async Task Swarm_members_receive_published_messages_of_every_family()
    {
        var (a, b) = await StartPairAsync();
        await using var _ = a;
        await using var __ = b;
        await a.Mesh.JoinSwarmAsync("hive");
        await b.Mesh.JoinSwarmAsync("hive");
        // Both sides must know the other's subscriptions: a publisher that has not yet heard of b's sends to nobody.
        var gossipA = a.Get<Protocols.GossipSub.GossipSubService>();
        var gossipB = b.Get<Protocols.GossipSub.GossipSubService>();
        await NeuralPeer.WaitUntil(() => NeuralMessageTypes.SwarmFamilies.All(f =>
                gossipA.GetPeers(NeuralProtocol.SwarmTopic("hive", f)).Count == 1 && gossipB.GetPeers(NeuralProtocol.SwarmTopic("hive", f)).Count == 1),
            "swarm subscriptions");
        var swarmTypes = NeuralMessageTypes.All.Where(i => i.SwarmFamily is not null).ToList();
        foreach (var info in swarmTypes)
            await a.Mesh.PostAsync(NeuralDestination.Swarm("hive"), TestMessages.SampleBody(info.Type));
        await NeuralPeer.WaitUntil(() => b.Recorder.Messages.Count == swarmTypes.Count, "swarm messages");
        Assert.Equal(swarmTypes.Select(i => i.Type).Order(), b.Recorder.Messages.Select(m => m.Type).Order());
        Assert.All(b.Recorder.Messages, m => Assert.Equal(NeuralDestination.Swarm("hive"), m.Destination));
        Assert.Empty(a.Recorder.Messages); // own publications are not delivered back
        await Assert.ThrowsAsync<ArgumentException>(() => a.Mesh.PostAsync(NeuralDestination.Swarm("hive"), new Command { Name = "x" }).AsTask());
    }

    [Fact]
    public async Task Forged_expired_replayed_and_oversized_messages_are_dropped_and_counted()
    {
        var (a, b) = await StartPairAsync(o => o.MaxBodySize = 4096);
        await using var _ = a;
        await using var __ = b;
        await b.Mesh.RegisterAgentAsync("agent-001");
        var key = a.Get<Network.ILocalIdentity>().PrivateKey;
        var stream = await a.Host.OpenStreamAsync(b.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None);
        await using var ___ = stream;

        async Task WriteAsync(byte[] envelope, int hops = 0)
        {
            LengthPrefixed.WriteMessage(stream.Output, NeuralMessageCodec.EncodeFrame(envelope, hops));
            await stream.Output.FlushAsync();
        }

        var genuine = NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = "genuine" }), key);
        await WriteAsync(genuine);
        await WriteAsync(genuine); // replay
        // Forged: b's key signs a message claiming to come from a.
        await WriteAsync(NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = "impostor" }), b.Get<Network.ILocalIdentity>().PrivateKey));
        // Tampered signature.
        var tampered = Records.Pb.Envelope.Parser.ParseFrom(NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = "tampered" }), key));
        var signature = tampered.Signature.ToByteArray();
        signature[0] ^= 1;
        tampered.Signature = ByteString.CopyFrom(signature);
        await WriteAsync(tampered.ToByteArray());
        await WriteAsync(NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = "stale" }, createdAt: DateTimeOffset.UtcNow.AddMinutes(-2)), key));
        await WriteAsync(NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = new string('x', 5000) }), key));
        await WriteAsync(NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = "too far" }, hopLimit: 1), key), hops: 2);
        await WriteAsync(NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = "nobody" }, NeuralDestination.Agent("agent-404")), key));
        var last = NeuralMessageCodec.Seal(TestMessages.Build(a.PeerId, new Thought { Content = "last" }), key);
        await WriteAsync(last);

        await NeuralPeer.WaitUntil(() => b.Recorder.Messages.Count == 2, "the two genuine messages");
        Assert.Equal(["genuine", "last"], b.Recorder.Messages.Select(m => m.Content));
        var drops = b.Mesh.GetStats().DroppedByTypeAndReason;
        Assert.Equal(1, drops["thought/replay"]);
        Assert.Equal(1, drops["thought/sender_mismatch"]);
        Assert.Equal(1, drops["unknown/bad_signature"]);
        Assert.Equal(1, drops["thought/expired"]);
        Assert.Equal(1, drops["thought/oversized"]);
        Assert.Equal(1, drops["thought/hop_limit"]);
        Assert.Equal(1, drops["thought/unroutable"]);
        Assert.Equal(7, drops.Values.Sum());
    }

    [Fact]
    public async Task Priorities_order_a_saturated_link_without_starving_the_low_ones()
    {
        var (a, b) = await StartPairAsync(o => o.InboundQueueCapacity = 2);
        await using var _ = a;
        await using var __ = b;
        b.Recorder.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var to = NeuralDestination.ToPeer(b.PeerId);
        string filler = new('f', 32 * 1024);

        // Fill the link: b's handler blocks on the first thought, its queue and the stream window fill up, and
        // a's send queue starts holding messages. A filler that is still queued after the settle time is taken as
        // the sign of a blocked link; on a slow machine a free link can take a while to drain, and a link that only
        // looked full would let a low message out before the high one posted after it, so the settle time is long.
        var all = new List<PostedMessage>();
        for (int i = 0; a.Mesh.QueueDepth(b.PeerId) < 3; i++)
        {
            Assert.True(i < 400, "the link never saturated");
            all.Add(await a.Mesh.PostAsync(to, new Thought { Content = filler, Tags = { "filler" } }, new SendOptions { Priority = 5 }));
            var settle = DateTime.UtcNow.AddSeconds(2);
            while (a.Mesh.QueueDepth(b.PeerId) > 0 && DateTime.UtcNow < settle) await Task.Delay(5);
        }
        var low = new List<NeuralMessageId>();
        var high = new List<NeuralMessageId>();
        for (int i = 0; i < 20; i++)
        {
            var l = await a.Mesh.PostAsync(to, new Thought { Content = $"low {i}" }, new SendOptions { Priority = 0 });
            var h = await a.Mesh.PostAsync(to, new Thought { Content = $"high {i}" }, new SendOptions { Priority = 10 });
            low.Add(l.Id);
            high.Add(h.Id);
            all.Add(l);
            all.Add(h);
        }
        b.Recorder.Gate.SetResult();
        await Task.WhenAll(all.Select(p => p.Sent)).WaitAsync(Patience);
        await NeuralPeer.WaitUntil(() => b.Recorder.Messages.Count == all.Count, "every message");

        var order = b.Recorder.Messages.Select(m => m.Id).Where(id => low.Contains(id) || high.Contains(id)).ToList();
        Assert.Equal(high, order.Take(20)); // every high one before any low one, each in send order
        Assert.Equal(low, order.Skip(20));   // and none of the low ones lost
        Assert.Empty(b.Mesh.GetStats().DroppedByTypeAndReason);
    }
}
