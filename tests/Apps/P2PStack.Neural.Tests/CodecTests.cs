using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.Kademlia;
using P2PStack.Records;

namespace P2PStack.Neural.Tests;

public class CodecTests
{
    private static readonly NeuralMeshOptions Options = new();
    private static readonly PrivateKey Key = PrivateKey.Generate(KeyType.Ed25519);
    private static readonly PeerId Peer = PeerId.FromPublicKey(Key.PublicKey);

    private static VerifyResult Verify(NeuralMessage message, PrivateKey? key = null, int hops = 0, DateTimeOffset? now = null) =>
        NeuralMessageCodec.Verify(NeuralMessageCodec.Seal(message, key ?? Key), hops, now ?? DateTimeOffset.UtcNow, Options);

    [Fact]
    public void Every_type_round_trips_through_a_signed_envelope()
    {
        foreach (var info in NeuralMessageTypes.All)
        {
            var body = TestMessages.SampleBody(info.Type);
            var result = Verify(TestMessages.Build(Peer, body));
            Assert.True(result.Ok, $"{info.Name}: {result.Reason} {result.Detail}");
            Assert.Equal(info.Type, result.Message!.TypeInfo.Type);
            Assert.Equal(body, result.Message.Body);
            Assert.Equal(Peer, result.Message.Source);
        }
    }

    [Fact]
    public void A_forged_signature_is_refused()
    {
        var envelope = NeuralMessageCodec.Seal(TestMessages.Build(Peer, new Thought { Content = "genuine" }), Key);
        var decoded = Records.Pb.Envelope.Parser.ParseFrom(envelope);
        var signature = decoded.Signature.ToByteArray();
        signature[5] ^= 0x40;
        decoded.Signature = ByteString.CopyFrom(signature);
        var result = NeuralMessageCodec.Verify(decoded.ToByteArray(), 0, DateTimeOffset.UtcNow, Options);
        Assert.Equal(DropReason.BadSignature, result.Reason);

        // The payload altered under a valid signature: also refused.
        var altered = Records.Pb.Envelope.Parser.ParseFrom(envelope);
        var message = NeuralMessage.Parser.ParseFrom(altered.Payload);
        message.Thought.Content = "forged";
        altered.Payload = message.ToByteString();
        Assert.Equal(DropReason.BadSignature, NeuralMessageCodec.Verify(altered.ToByteArray(), 0, DateTimeOffset.UtcNow, Options).Reason);
    }

    [Fact]
    public void A_message_signed_by_another_peer_than_its_claimed_source_is_refused()
    {
        using var other = PrivateKey.Generate(KeyType.Ed25519);
        var result = Verify(TestMessages.Build(Peer, new Thought { Content = "impostor" }), other);
        Assert.Equal(DropReason.SenderMismatch, result.Reason);
    }

    [Fact]
    public void Another_signing_domain_does_not_verify()
    {
        var message = TestMessages.Build(Peer, new Thought());
        var envelope = SignedEnvelope.Seal("libp2p-peer-record", NeuralProtocol.MessagePayloadType, message.ToByteArray(), Key).ToBytes();
        Assert.Equal(DropReason.BadSignature, NeuralMessageCodec.Verify(envelope, 0, DateTimeOffset.UtcNow, Options).Reason);
    }

    [Fact]
    public void Expiry_clock_skew_and_ttl_cap()
    {
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(DropReason.Expired, Verify(TestMessages.Build(Peer, new Thought(), createdAt: now.AddSeconds(-61), ttlSeconds: 60), now: now).Reason);
        Assert.True(Verify(TestMessages.Build(Peer, new Thought(), createdAt: now.AddSeconds(-59), ttlSeconds: 60), now: now).Ok);
        Assert.Equal(DropReason.ClockSkew, Verify(TestMessages.Build(Peer, new Thought(), createdAt: now.AddMinutes(5)), now: now).Reason);
        // A TTL over the receiver's maximum is capped: a day-long message is expired after an hour.
        var longLived = TestMessages.Build(Peer, new Thought(), createdAt: now.AddHours(-2), ttlSeconds: 86_400);
        Assert.Equal(DropReason.Expired, Verify(longLived, now: now).Reason);
        Assert.Equal(DropReason.Malformed, Verify(TestMessages.Build(Peer, new Thought(), ttlSeconds: 0)).Reason);
    }

    [Fact]
    public void Structural_rules()
    {
        Assert.Equal(DropReason.HopLimit, Verify(TestMessages.Build(Peer, new Thought(), hopLimit: 2), hops: 3).Reason);
        Assert.Equal(DropReason.Malformed, Verify(TestMessages.Build(Peer, new Thought(), priority: 11)).Reason);
        Assert.Equal(DropReason.Malformed, Verify(TestMessages.Build(Peer, new Thought(), id: new byte[8])).Reason);

        var mismatched = TestMessages.Build(Peer, new Thought());
        mismatched.Type = MessageType.Command;
        Assert.Equal(DropReason.Malformed, Verify(mismatched).Reason);

        var commandToSwarm = TestMessages.Build(Peer, new Command { Name = "x" }, NeuralDestination.Swarm("hive"));
        Assert.Equal(DropReason.Malformed, Verify(commandToSwarm).Reason);

        var orphanResponse = TestMessages.Build(Peer, new Response());
        orphanResponse.CorrelationId = ByteString.Empty;
        Assert.Equal(DropReason.Malformed, Verify(orphanResponse).Reason);

        var noDestination = TestMessages.Build(Peer, new Thought());
        noDestination.Destination = null;
        Assert.Equal(DropReason.Malformed, Verify(noDestination).Reason);
    }

    [Fact]
    public void Oversized_envelopes_and_bodies_are_refused()
    {
        var small = new NeuralMeshOptions { MaxMessageSize = 4096, MaxBodySize = 1024 };
        var body = new Thought { Content = new string('x', 2000) };
        var result = NeuralMessageCodec.Verify(NeuralMessageCodec.Seal(TestMessages.Build(Peer, body), Key), 0, DateTimeOffset.UtcNow, small);
        Assert.Equal(DropReason.Oversized, result.Reason);
        var huge = new Thought { Content = new string('x', 5000) };
        result = NeuralMessageCodec.Verify(NeuralMessageCodec.Seal(TestMessages.Build(Peer, huge), Key), 0, DateTimeOffset.UtcNow, small);
        Assert.Equal(DropReason.Oversized, result.Reason);
    }

    [Fact]
    public void Random_mutated_and_truncated_input_never_throws()
    {
        var valid = NeuralMessageCodec.EncodeFrame(NeuralMessageCodec.Seal(TestMessages.Build(Peer, TestMessages.SampleBody(MessageType.Command)), Key), 1);
        Prop.ForAll<byte[], int, byte>((noise, position, value) =>
        {
            var mutated = (byte[])valid.Clone();
            mutated[(int)((uint)position % mutated.Length)] ^= (byte)(value | 1);
            foreach (var input in new[] { noise, mutated, valid[..((int)((uint)position % valid.Length))] })
            {
                try
                {
                    var frame = NeuralMessageCodec.DecodeFrame(input);
                    _ = NeuralMessageCodec.Verify(frame.Envelope.Span, (int)Math.Min(frame.Hops, 64), DateTimeOffset.UtcNow, Options);
                }
                catch (NeuralFormatException)
                {
                }
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Agent_records_validate_and_select_the_highest_seq()
    {
        var validator = new AgentRecordValidator();
        byte[] key = NeuralProtocol.AgentKey("agent-001");
        byte[] older = AgentRecords.Create("agent-001", 5, Key);
        byte[] newer = AgentRecords.Create("agent-001", 9, Key);
        validator.Validate(key, older);
        validator.Validate(key, newer);
        Assert.Equal(1, validator.Select(key, [older, newer]));
        Assert.Equal(0, validator.Select(key, [newer, older]));
        var location = AgentRecords.Open(newer);
        Assert.Equal(("agent-001", Peer, 9UL), (location.Name, location.Peer, location.Seq));

        // Stored under another name, or claiming a peer that did not sign it: invalid.
        Assert.Throws<InvalidRecordException>(() => validator.Validate(NeuralProtocol.AgentKey("agent-002"), newer));
        using var other = PrivateKey.Generate(KeyType.Ed25519);
        var forged = new AgentRecord { Name = "agent-001", Peer = ByteString.CopyFrom(Peer.Bytes.Span), Seq = 99 };
        byte[] forgedEnvelope = SignedEnvelope.Seal(NeuralProtocol.AgentRecordDomain, NeuralProtocol.AgentRecordPayloadType, forged.ToByteArray(), other).ToBytes();
        Assert.Throws<InvalidRecordException>(() => validator.Validate(key, forgedEnvelope));
        Assert.Throws<InvalidRecordException>(() => validator.Validate("/agent/bad name"u8, newer));
        Assert.Throws<InvalidRecordException>(() => validator.Validate("/pk/agent-001"u8, newer));
    }

    [Fact]
    public void Agent_record_decoding_only_throws_the_typed_exception()
    {
        var valid = AgentRecords.Create("agent-001", 1, Key);
        Prop.ForAll<byte[], int>((noise, position) =>
        {
            var mutated = (byte[])valid.Clone();
            mutated[(int)((uint)position % mutated.Length)] ^= 0x5A;
            foreach (var input in new[] { noise, mutated, valid[..((int)((uint)position % valid.Length))] })
            {
                try { AgentRecords.Open(input); }
                catch (NeuralFormatException) { }
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Destinations_parse_and_print()
    {
        Assert.Equal(NeuralDestination.Agent("agent-001"), NeuralDestination.Parse("agent-001"));
        Assert.Equal(NeuralDestination.Swarm("hive"), NeuralDestination.Parse("swarm:hive"));
        Assert.Equal(NeuralDestination.ToPeer(Peer), NeuralDestination.Parse(Peer.ToString()));
        Assert.Equal(NeuralDestination.ToPeer(Peer), NeuralDestination.Parse("peer:" + Peer));
        Assert.Equal("swarm:hive", NeuralDestination.Swarm("hive").ToString());
        Assert.Throws<ArgumentException>(() => NeuralDestination.Parse("not valid!"));
        Assert.Throws<ArgumentException>(() => NeuralDestination.Parse("swarm:" + new string('a', 65)));
        var id = NeuralMessageId.New();
        Assert.True(NeuralMessageId.TryParse(id.ToString(), out var parsed));
        Assert.Equal(id, parsed);
    }
}
