using Text = System.Text.Encoding;
using Google.Protobuf;
using P2PStack.Crypto.MLKem;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>End-to-end sealed messages (docs/specs/neural-seal.md) on real hosts, and the seal's binding.</summary>
public sealed class SealTests
{
    private static readonly NeuralDestination ToAgent = NeuralDestination.Agent("agent-001");

    [Fact]
    public void A_seal_opens_only_with_its_key_and_only_in_its_own_message()
    {
        using var recipient = XWingKem.GenerateKey();
        using var other = XWingKem.GenerateKey();
        var source = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var body = new Thought { Content = "for your eyes only" };
        var message = TestMessages.Build(source, body, ToAgent);
        message.Sealed = NeuralSeal.Seal(message, body, recipient.ExportPublicKey());
        Assert.Equal(MessageType.Thought, message.Type);
        Assert.DoesNotContain("for your eyes only", Text.UTF8.GetString(message.ToByteArray()));

        Assert.Equal(body, NeuralSeal.Open(message, recipient));
        Assert.Throws<NeuralSealException>(() => NeuralSeal.Open(message, other));

        // The same seal in another message (new id), or with a changed header field, does not open.
        var moved = message.Clone();
        moved.Id = ByteString.CopyFrom(NeuralMessageId.New().ToBytes());
        Assert.Throws<NeuralSealException>(() => NeuralSeal.Open(moved, recipient));
        var retargeted = message.Clone();
        retargeted.Priority = 10;
        Assert.Throws<NeuralSealException>(() => NeuralSeal.Open(retargeted, recipient));
        // A flipped ciphertext bit does not open.
        var tampered = message.Clone();
        byte[] ciphertext = tampered.Sealed.Ciphertext.ToByteArray();
        ciphertext[3] ^= 0x01;
        tampered.Sealed.Ciphertext = ByteString.CopyFrom(ciphertext);
        Assert.Throws<NeuralSealException>(() => NeuralSeal.Open(tampered, recipient));
        // A body of another type than the header says does not open either.
        var mistyped = message.Clone();
        mistyped.Type = MessageType.HealthCheck;
        Assert.Throws<NeuralSealException>(() => NeuralSeal.Open(mistyped, recipient));
    }

    [Fact]
    public async Task Sealed_by_default_between_two_nodes_and_commands_are_answered_sealed()
    {
        var network = new MemoryNetwork();
        await using var a = await NeuralPeer.StartAsync(network, o => o.SealByDefault = true);
        await using var b = await NeuralPeer.StartAsync(network, o => o.SealByDefault = true);
        await a.ConnectAsync(b);
        await b.Mesh.RegisterAgentAsync("agent-001");

        await a.Mesh.SendAsync(NeuralDestination.ToPeer(b.PeerId), new Thought { Content = "sealed hello" });
        await NeuralPeer.WaitUntil(() => b.Recorder.Messages.Count == 1, "the sealed thought");
        var received = b.Recorder.Messages[0];
        Assert.True(received.WasSealed);
        Assert.Equal("sealed hello", ((Thought)received.Body).Content);

        var answer = await a.Mesh.SendCommandAsync(NeuralDestination.ToPeer(b.PeerId), new Command { Name = "echo", Args = { "x" } },
            new SendOptions { Seal = true });
        Assert.True(answer.WasSealed);
        Assert.True(answer.Body.Success);

        // --no-seal: in the clear.
        await a.Mesh.SendAsync(NeuralDestination.ToPeer(b.PeerId), new Thought { Content = "clear" }, new SendOptions { Seal = false });
        await NeuralPeer.WaitUntil(() => b.Recorder.Messages.Count(m => m.Body is Thought) == 2, "the clear thought");
        Assert.False(b.Recorder.Messages.Last(m => m.Body is Thought).WasSealed);
    }

    [Fact]
    public async Task A_forwarding_node_sees_no_plaintext()
    {
        var network = new MemoryNetwork();
        await using var sender = await NeuralPeer.StartAsync(network);
        await using var forwarder = await NeuralPeer.StartAsync(network);
        await using var recipient = await NeuralPeer.StartAsync(network);
        await sender.ConnectAsync(forwarder);
        await forwarder.ConnectAsync(recipient);

        const string secret = "the launch code is 0000";
        var key = sender.Get<ILocalIdentity>().PrivateKey;
        var body = new Thought { Content = secret };
        var message = TestMessages.Build(sender.PeerId, body, NeuralDestination.ToPeer(recipient.PeerId));
        message.Sealed = NeuralSeal.Seal(message, body, recipient.Mesh.SealingPublicKey);
        byte[] envelope = NeuralMessageCodec.Seal(message, key);
        // Everything the forwarder handles is this envelope (plus the hop count): no plaintext in it.
        Assert.DoesNotContain(secret, Text.UTF8.GetString(envelope));
        Assert.DoesNotContain(secret, Text.Latin1.GetString(envelope));

        await WriteAsync(sender, forwarder, envelope);
        await NeuralPeer.WaitUntil(() => recipient.Recorder.Messages.Count == 1, "the forwarded message at the recipient");
        Assert.Equal(secret, ((Thought)recipient.Recorder.Messages[0].Body).Content);
        Assert.True(recipient.Recorder.Messages[0].WasSealed);
        Assert.Equal(1, forwarder.Mesh.GetStats().Forwarded);
        Assert.Empty(forwarder.Recorder.Messages);
    }

    [Fact]
    public async Task A_modified_or_replayed_seal_is_refused()
    {
        var network = new MemoryNetwork();
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var victim = await NeuralPeer.StartAsync(network);
        await attacker.ConnectAsync(victim);
        var key = attacker.Get<ILocalIdentity>().PrivateKey;
        var to = NeuralDestination.ToPeer(victim.PeerId);

        // A genuine sealed message, delivered.
        var body = new Thought { Content = "original" };
        var genuine = TestMessages.Build(attacker.PeerId, body, to);
        genuine.Sealed = NeuralSeal.Seal(genuine, body, victim.Mesh.SealingPublicKey);
        byte[] genuineEnvelope = NeuralMessageCodec.Seal(genuine, key);
        await WriteAsync(attacker, victim, genuineEnvelope);
        await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count == 1, "the genuine message");

        // The same seal in a new, validly signed message: refused.
        var replayed = genuine.Clone();
        replayed.Id = ByteString.CopyFrom(NeuralMessageId.New().ToBytes());
        // A modified ciphertext in a validly signed message: refused.
        var modified = TestMessages.Build(attacker.PeerId, body, to);
        modified.Sealed = NeuralSeal.Seal(modified, body, victim.Mesh.SealingPublicKey);
        byte[] ciphertext = modified.Sealed.Ciphertext.ToByteArray();
        ciphertext[0] ^= 0x80;
        modified.Sealed.Ciphertext = ByteString.CopyFrom(ciphertext);
        await WriteAsync(attacker, victim, NeuralMessageCodec.Seal(replayed, key));
        await WriteAsync(attacker, victim, NeuralMessageCodec.Seal(modified, key));
        // The genuine one again, byte for byte: a replay.
        await WriteAsync(attacker, victim, genuineEnvelope);

        await NeuralPeer.WaitUntil(() => victim.Mesh.GetStats().DroppedByTypeAndReason.GetValueOrDefault("thought/bad_seal") == 2
            && victim.Mesh.GetStats().DroppedByTypeAndReason.GetValueOrDefault("thought/replay") == 1, "two bad seals and a replay");
        Assert.Single(victim.Recorder.Messages);
    }

    [Fact]
    public async Task Swarm_messages_are_sealed_with_the_members_key_and_unreadable_without_it()
    {
        var network = new MemoryNetwork();
        byte[] swarmKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(NeuralSeal.SwarmKeySize);
        await using var publisher = await NeuralPeer.StartAsync(network, o => o.SwarmKeys["team"] = swarmKey);
        await using var member = await NeuralPeer.StartAsync(network, o => o.SwarmKeys["team"] = swarmKey);
        await using var outsider = await NeuralPeer.StartAsync(network); // subscribed, but without the key
        await publisher.ConnectAsync(member);
        await publisher.ConnectAsync(outsider);
        foreach (var peer in new[] { publisher, member, outsider }) await peer.Mesh.JoinSwarmAsync("team");
        var gossip = publisher.Get<Protocols.GossipSub.GossipSubService>();
        await NeuralPeer.WaitUntil(() => NeuralMessageTypes.SwarmFamilies.All(f => gossip.GetPeers(NeuralProtocol.SwarmTopic("team", f)).Count == 2),
            "swarm subscriptions");

        await publisher.Mesh.PostAsync(NeuralDestination.Swarm("team"), new Thought { Content = "members only" });
        await NeuralPeer.WaitUntil(() => member.Recorder.Messages.Count == 1, "the sealed swarm message at the member");
        Assert.True(member.Recorder.Messages[0].WasSealed);
        Assert.Equal("members only", ((Thought)member.Recorder.Messages[0].Body).Content);
        await NeuralPeer.WaitUntil(() => outsider.Mesh.GetStats().DroppedByTypeAndReason.GetValueOrDefault("thought/bad_seal") == 1,
            "the outsider to count the message it cannot open");
        Assert.Empty(outsider.Recorder.Messages);

        // A clear message to the sealed swarm is not from a member: the members reject it.
        await outsider.Mesh.PostAsync(NeuralDestination.Swarm("team"), new Thought { Content = "let me in" });
        await NeuralPeer.WaitUntil(() => publisher.Mesh.GetStats().DroppedByTypeAndReason.GetValueOrDefault("thought/bad_seal") >= 1,
            "the publisher to reject the clear message");
        Assert.Single(member.Recorder.Messages);
        Assert.Empty(publisher.Recorder.Messages);
    }

    [Fact]
    public void A_swarm_seal_is_bound_to_its_key_swarm_and_header()
    {
        byte[] key = System.Security.Cryptography.RandomNumberGenerator.GetBytes(NeuralSeal.SwarmKeySize);
        var source = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var body = new Thought { Content = "swarm secret" };
        var message = TestMessages.Build(source, body, NeuralDestination.Swarm("team"));
        message.Sealed = NeuralSeal.SealForSwarm(message, body, key, "team");
        Assert.Equal(body, NeuralSeal.OpenForSwarm(message, key, "team"));
        Assert.Throws<NeuralSealException>(() => NeuralSeal.OpenForSwarm(message, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), "team"));
        Assert.Throws<NeuralSealException>(() => NeuralSeal.OpenForSwarm(message, key, "other"));
        var moved = message.Clone();
        moved.Id = ByteString.CopyFrom(NeuralMessageId.New().ToBytes());
        Assert.Throws<NeuralSealException>(() => NeuralSeal.OpenForSwarm(moved, key, "team"));
    }

    private static async Task WriteAsync(NeuralPeer from, NeuralPeer to, byte[] envelope)
    {
        var stream = await from.Host.OpenStreamAsync(to.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None);
        await using (stream)
        {
            LengthPrefixed.WriteMessage(stream.Output, NeuralMessageCodec.EncodeFrame(envelope, 0));
            await stream.Output.FlushAsync();
            await stream.Output.CompleteAsync();
        }
    }
}
