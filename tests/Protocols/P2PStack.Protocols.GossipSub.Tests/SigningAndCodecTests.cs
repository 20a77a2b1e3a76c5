using System.Buffers;
using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub.Tests;

public class SigningAndCodecTests
{
    private static Harness Scored(SignaturePolicy policy = SignaturePolicy.StrictSign) => new(o =>
    {
        o.SignaturePolicy = policy;
        o.ScoreParams.Topics[Harness.Topic] = new TopicScoreParams
        {
            TimeInMeshWeight = 0, FirstMessageDeliveriesWeight = 0, MeshMessageDeliveriesWeight = 0,
        };
    });

    [Fact]
    public void Signed_message_round_trips_and_verifies()
    {
        var message = MessageSigning.CreateSigned("t", [1, 2, 3], Keys.Key(3), 42);
        Assert.Equal(Keys.Peer(3), MessageSigning.Verify(message));
        Assert.False(message.HasKey); // ed25519 keys are inlined in the peer id
        Assert.Equal(8, message.Seqno.Length);
        var decoded = Message.Parser.ParseFrom(message.ToByteArray());
        Assert.Equal(Keys.Peer(3), MessageSigning.Verify(decoded));
    }

    [Fact]
    public void Rsa_author_carries_its_key_and_a_mismatched_key_fails()
    {
        using var rsa = PrivateKey.Generate(KeyType.Rsa);
        var message = MessageSigning.CreateSigned("t", [1], rsa, 1);
        Assert.True(message.HasKey);
        Assert.Equal(PeerId.FromPublicKey(rsa.PublicKey), MessageSigning.Verify(message));
        message.Key = ByteString.CopyFrom(Keys.Key(1).PublicKey.ToProtobuf());
        Assert.Null(MessageSigning.Verify(message));
    }

    [Theory]
    [InlineData("data")]
    [InlineData("topic")]
    [InlineData("seqno")]
    [InlineData("from")]
    [InlineData("signature")]
    public void Tampered_messages_do_not_verify(string field)
    {
        var message = MessageSigning.CreateSigned("t", [1, 2, 3], Keys.Key(3), 42);
        switch (field)
        {
            case "data": message.Data = ByteString.CopyFrom([1, 2, 4]); break;
            case "topic": message.Topic = "u"; break;
            case "seqno": message.Seqno = ByteString.CopyFrom(new byte[8]); break;
            case "from": message.From = ByteString.CopyFrom(Keys.Peer(4).Bytes.Span); break;
            case "signature":
                var sig = message.Signature.ToByteArray();
                sig[0] ^= 1;
                message.Signature = ByteString.CopyFrom(sig);
                break;
        }
        Assert.Null(MessageSigning.Verify(message));
    }

    [Fact]
    public void Forged_signature_is_rejected_penalised_and_does_not_shadow_the_real_message()
    {
        var h = Scored();
        h.AddPeer(1, topics: Harness.Topic);
        h.AddPeer(2, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        var real = MessageSigning.CreateSigned(Harness.Topic, [7], Keys.Key(9), 5);
        var forged = real.Clone();
        forged.Data = ByteString.CopyFrom([8]);
        h.Router.HandleRpc(Keys.Peer(1), new RPC { Publish = { forged } });
        Assert.Empty(h.Host.Delivered);
        Assert.Equal(-0.5, h.Router.GetScore(Keys.Peer(1)), 9);
        h.Router.HandleRpc(Keys.Peer(2), new RPC { Publish = { real } });
        Assert.Equal(7, Assert.Single(h.Host.Delivered).Data.Span[0]);
    }

    [Fact]
    public void Strict_sign_rejects_unsigned_and_strict_no_sign_rejects_signed()
    {
        var h = Scored();
        h.AddPeer(1, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        h.Router.HandleRpc(Keys.Peer(1), new RPC { Publish = { MessageSigning.CreateUnsigned(Harness.Topic, [1]) } });
        Assert.Empty(h.Host.Delivered);
        Assert.True(h.Router.GetScore(Keys.Peer(1)) < 0);

        var n = Scored(SignaturePolicy.StrictNoSign);
        n.AddPeer(1, topics: Harness.Topic);
        n.Router.Join(Harness.Topic);
        n.Router.HandleRpc(Keys.Peer(1), new RPC { Publish = { MessageSigning.CreateSigned(Harness.Topic, [1], Keys.Key(9), 1) } });
        var withFrom = MessageSigning.CreateUnsigned(Harness.Topic, [2]);
        withFrom.From = ByteString.CopyFrom(Keys.Peer(9).Bytes.Span);
        n.Router.HandleRpc(Keys.Peer(1), new RPC { Publish = { withFrom } });
        Assert.Empty(n.Host.Delivered);
        Assert.Equal(-2, n.Router.GetScore(Keys.Peer(1)), 9); // two invalid: 2² × -1 × 0.5
        n.Router.HandleRpc(Keys.Peer(1), new RPC { Publish = { MessageSigning.CreateUnsigned(Harness.Topic, [3]) } });
        var delivered = Assert.Single(n.Host.Delivered);
        Assert.Null(delivered.Author);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(new byte[] { 3 }), delivered.Id.ToArray());
    }

    [Fact]
    public void Message_claiming_to_be_ours_is_rejected()
    {
        var h = Scored();
        h.AddPeer(1, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        h.Router.HandleRpc(Keys.Peer(1), new RPC { Publish = { MessageSigning.CreateSigned(Harness.Topic, [1], Keys.Key(0), 1) } });
        Assert.Empty(h.Host.Delivered);
        Assert.True(h.Router.GetScore(Keys.Peer(1)) < 0);
    }

    [Fact]
    public void Random_and_mutated_bytes_decode_or_throw_the_typed_error()
    {
        var random = new Random(1234);
        var valid = new RPC
        {
            Subscriptions = { new RPC.Types.SubOpts { Subscribe = true, Topicid = "a" } },
            Publish = { MessageSigning.CreateSigned("a", [1, 2, 3], Keys.Key(1), 1) },
            Control = new ControlMessage
            {
                Ihave = { new ControlIHave { TopicID = "a", MessageIDs = { ByteString.CopyFrom([1]) } } },
                Prune = { new ControlPrune { TopicID = "a", Backoff = 60, Peers = { new PeerInfo { PeerID = ByteString.CopyFrom([1]) } } } },
                Idontwant = { new ControlIDontWant { MessageIDs = { ByteString.CopyFrom([2]) } } },
            },
        }.ToByteArray();
        Assert.Equal(valid, RpcCodec.Decode(valid).ToByteArray());
        for (int i = 0; i < 3000; i++)
        {
            byte[] input = (i % 3) switch
            {
                0 => RandomBytes(random, random.Next(0, 200)),
                1 => valid[..random.Next(valid.Length)],
                _ => Mutate(random, valid),
            };
            try
            {
                RpcCodec.Decode(input);
            }
            catch (PubSubFormatException)
            {
            }
        }
    }

    [Fact]
    public void Malformed_input_leads_to_graylisting()
    {
        var h = new Harness();
        var peer = h.AddPeer(1);
        for (int i = 0; i < 3; i++) h.Router.ReportMalformedRpc(peer);
        Assert.True(h.Router.GetScore(peer) < h.Options.ScoreThresholds.GraylistThreshold); // 3² × -10 = -90
        h.Subscribe(1, "t");
        Assert.Empty(h.Router.GetTopicPeers("t"));
    }

    [Fact]
    public void Limits_on_subscriptions_topics_and_messages_are_enforced_with_penalties()
    {
        var h = new Harness(o => { o.MaxSubscriptionsPerRpc = 5; o.MaxTopicsPerPeer = 3; o.MaxMessageSize = 100; o.MaxTopicLength = 8; });
        h.AddPeer(1);
        h.Subscribe(1, "a", "b", "c", "d", "e", "f", "g");
        Assert.Equal(3, new[] { "a", "b", "c", "d", "e" }.Count(t => h.Router.GetTopicPeers(t).Count == 1));
        h.Subscribe(1, "this-topic-is-too-long");
        Assert.Empty(h.Router.GetTopicPeers("this-topic-is-too-long"));
        Assert.True(h.Router.GetScore(Keys.Peer(1)) < 0);
        h.Router.Join("a");
        h.Relay(1, 9, new string('x', 200), 1, "a");
        Assert.Empty(h.Host.Delivered);
        Assert.Throws<InvalidOperationException>(() =>
        {
            var j = new Harness(o => o.MaxLocalSubscriptions = 1);
            j.Router.Join("x");
            j.Router.Join("y");
        });
    }

    [Fact]
    public void Oversized_rpcs_are_fragmented_within_the_limit()
    {
        var rpc = new RPC();
        for (int i = 0; i < 20; i++) rpc.Publish.Add(MessageSigning.CreateSigned("t", new byte[300], Keys.Key(1), (ulong)i));
        var ihave = new ControlIHave { TopicID = "t" };
        for (int i = 0; i < 500; i++) ihave.MessageIDs.Add(ByteString.CopyFrom(BitConverter.GetBytes(i)));
        rpc.Control = new ControlMessage { Ihave = { ihave }, Graft = { new ControlGraft { TopicID = "t" } } };
        var parts = RpcCodec.Fragment(rpc, 1024, out int dropped);
        Assert.Equal(0, dropped);
        Assert.All(parts, p => Assert.True(p.CalculateSize() <= 1024));
        Assert.Equal(20, parts.Sum(p => p.Publish.Count));
        Assert.Equal(500, parts.Where(p => p.Control is not null).Sum(p => p.Control.Ihave.Sum(x => x.MessageIDs.Count)));
        Assert.Equal(1, parts.Where(p => p.Control is not null).Sum(p => p.Control.Graft.Count));
        var huge = new RPC { Publish = { MessageSigning.CreateSigned("t", new byte[2000], Keys.Key(1), 1) } };
        Assert.Empty(RpcCodec.Fragment(huge, 1024, out dropped));
        Assert.Equal(1, dropped);
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Mutate(Random random, byte[] valid)
    {
        var copy = (byte[])valid.Clone();
        for (int k = 0; k < 1 + random.Next(4); k++) copy[random.Next(copy.Length)] = (byte)random.Next(256);
        return copy;
    }
}
