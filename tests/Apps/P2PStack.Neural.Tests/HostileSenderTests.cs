using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>A connected peer that abuses /synaptic/neural/1.0.0 with hand-written frames.</summary>
public sealed class HostileSenderTests
{
    [Fact]
    public async Task One_source_flooding_valid_messages_cannot_fill_the_replay_cache_for_other_sources()
    {
        var network = new MemoryNetwork();
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var victim = await NeuralPeer.StartAsync(network, o => o.ReplayCacheCapacityPerSource = 3);
        await attacker.ConnectAsync(victim);
        await victim.Mesh.RegisterAgentAsync("agent-001");
        var key = attacker.Get<ILocalIdentity>().PrivateKey;
        using var otherKey = PrivateKey.Generate(KeyType.Ed25519);
        var otherSource = PeerId.FromPublicKey(otherKey.PublicKey);

        var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None);
        await using (stream)
        {
            for (int i = 0; i < 5; i++)
                await WriteAsync(stream, NeuralMessageCodec.Seal(TestMessages.Build(attacker.PeerId, new Thought { Content = $"flood {i}" }), key));
            // Another source (any key may sign its own messages) still gets through.
            await WriteAsync(stream, NeuralMessageCodec.Seal(TestMessages.Build(otherSource, new Thought { Content = "other source" }), otherKey));
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count == 4, "the three admitted messages and the other source's");
        }

        Assert.Equal(["flood 0", "flood 1", "flood 2", "other source"], victim.Recorder.Messages.Select(m => m.Content));
        Assert.Equal(2, victim.Mesh.GetStats().DroppedByTypeAndReason["thought/replay_cache_full"]);
    }

    [Fact]
    public async Task An_oversized_frame_prefix_resets_the_stream_is_counted_once_and_the_next_stream_is_served()
    {
        var network = new MemoryNetwork();
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var victim = await NeuralPeer.StartAsync(network);
        await attacker.ConnectAsync(victim);
        await victim.Mesh.RegisterAgentAsync("agent-001");
        var key = attacker.Get<ILocalIdentity>().PrivateKey;

        await using (var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            await stream.Output.WriteAsync(new byte[] { 0x80, 0x80, 0x80, 0x05 }); // announces 10 MiB
            await NeuralPeer.WaitUntil(() => victim.Mesh.GetStats().DroppedByTypeAndReason.ContainsKey("unknown/oversized"),
                "the oversized frame to be refused");
        }

        await using (var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            await WriteAsync(stream, NeuralMessageCodec.Seal(TestMessages.Build(attacker.PeerId, new Thought { Content = "after" }), key));
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count == 1, "the message on the next stream");
        }

        Assert.Equal("after", victim.Recorder.Messages[0].Content);
        Assert.Equal(1, victim.Mesh.GetStats().DroppedByTypeAndReason["unknown/oversized"]);
    }

    [Fact]
    public async Task A_stream_on_which_a_frame_never_completes_is_reset_after_the_idle_timeout_and_the_next_stream_is_served()
    {
        var network = new MemoryNetwork();
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var victim = await NeuralPeer.StartAsync(network, o => o.StreamIdleTimeout = TimeSpan.FromMilliseconds(300));
        await attacker.ConnectAsync(victim);
        await victim.Mesh.RegisterAgentAsync("agent-001");
        var key = attacker.Get<ILocalIdentity>().PrivateKey;

        int baseline = victim.Host.GetConnections(attacker.PeerId).Sum(c => c.StreamCount);
        await using (var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            // A frame announced as 1,000 bytes that trickles in a byte at a time (at most 50 a second, so it cannot
            // complete before the 300 ms timeout): the idle timeout bounds the whole frame, not the gap between bytes,
            // so the victim resets the stream and the attacker's next write fails.
            await stream.Output.WriteAsync(new byte[] { 0xE8, 0x07, 1, 2, 3 });
            var reset = await Assert.ThrowsAsync<StreamResetException>(async () =>
            {
                var deadline = DateTime.UtcNow + NeuralPeer.Patience;
                while (DateTime.UtcNow < deadline)
                {
                    await stream.Output.WriteAsync(new byte[] { 0 });
                    await Task.Delay(20);
                }
            });
            Assert.NotNull(reset);
        }
        await NeuralPeer.WaitUntil(() => victim.Host.GetConnections(attacker.PeerId).Sum(c => c.StreamCount) <= baseline,
            "the victim to release the idle stream");

        await using (var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            await WriteAsync(stream, NeuralMessageCodec.Seal(TestMessages.Build(attacker.PeerId, new Thought { Content = "after" }), key));
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count == 1, "the message on the next stream");
        }
        Assert.Equal("after", victim.Recorder.Messages[0].Content);
    }

    /// <summary>Idle timeouts (issue 18): a reliable-delivery stream on which the sender never writes its message is
    /// ended after <see cref="NeuralMeshOptions.SendTimeout"/> and released (fails with the timeout at 10 min).</summary>
    [Fact]
    public async Task A_silent_reliable_stream_is_ended_after_the_send_timeout_and_released()
    {
        var network = new MemoryNetwork();
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var victim = await NeuralPeer.StartAsync(network, o => o.SendTimeout = TimeSpan.FromMilliseconds(300));
        await attacker.ConnectAsync(victim);

        // Two proposals: negotiated at once (a single one would wait for our first bytes).
        var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ReliableProtocolId, "/test/none/1.0.0"], CancellationToken.None);
        try
        {
            Assert.Equal(NeuralProtocol.ReliableProtocolId, stream.Protocol);
            await NeuralPeer.WaitUntil(() => victim.Host.Resources.Snapshot()
                    .Any(s => s.Name == $"protocol {NeuralProtocol.ReliableProtocolId}" && s.Usage.Streams == 0),
                "the victim to end and release the silent reliable stream");
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    private static async Task WriteAsync(IStream stream, byte[] envelope)
    {
        LengthPrefixed.WriteMessage(stream.Output, NeuralMessageCodec.EncodeFrame(envelope, 0));
        await stream.Output.FlushAsync();
    }
}
