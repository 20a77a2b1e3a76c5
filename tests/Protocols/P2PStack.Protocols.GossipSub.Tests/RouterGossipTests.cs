using Google.Protobuf;
using P2PStack.Protocols.GossipSub.Pb;
using P2PStack.Records;

namespace P2PStack.Protocols.GossipSub.Tests;

public class RouterGossipTests
{
    private static Harness SmallMesh(Action<GossipSubOptions>? more = null) => new(o =>
    {
        o.D = 1; o.DLow = 1; o.DHigh = 2; o.DScore = 0; o.DOut = 0;
        more?.Invoke(o);
    });

    [Fact]
    public void Ihave_is_emitted_to_non_mesh_peers_and_iwant_is_answered_a_bounded_number_of_times()
    {
        var h = SmallMesh();
        for (int i = 1; i <= 3; i++) h.AddPeer(i, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        var meshPeer = Assert.Single(h.Router.GetMeshPeers(Harness.Topic));
        var message = h.Relay(Keys.Peer(1) == meshPeer ? 2 : 1, 9, "gossip me", 1);
        var id = h.Router.ComputeId(message);
        h.Host.Sent.Clear();
        h.Heartbeats(1);
        var outside = Enumerable.Range(1, 3).Select(Keys.Peer).Where(p => p != meshPeer).ToList();
        foreach (var peer in outside)
        {
            var ihave = Assert.Single(h.Host.ControlTo(peer).SelectMany(c => c.Ihave));
            Assert.Equal(Harness.Topic, ihave.TopicID);
            Assert.Contains(Harness.Bytes(id), ihave.MessageIDs);
        }
        Assert.Empty(h.Host.ControlTo(meshPeer).SelectMany(c => c.Ihave));

        int asker = outside[0] == Keys.Peer(1) ? 1 : outside[0] == Keys.Peer(2) ? 2 : 3;
        h.Host.Sent.Clear();
        for (int i = 0; i < 5; i++) h.Control(asker, new ControlMessage { Iwant = { new ControlIWant { MessageIDs = { Harness.Bytes(id) } } } });
        Assert.Equal(3, h.Host.MessagesTo(outside[0]).Count()); // GossipRetransmission
    }

    [Fact]
    public void Ihave_of_unseen_ids_gets_an_iwant_and_an_unkept_promise_is_penalised()
    {
        var h = new Harness();
        h.AddPeer(1, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        var seen = h.Relay(1, 9, "already here", 1);
        var seenId = Harness.Bytes(h.Router.ComputeId(seen));
        var unknown = ByteString.CopyFrom(new byte[] { 1, 2, 3 });
        h.Host.Sent.Clear();
        h.Control(1, new ControlMessage { Ihave = { new ControlIHave { TopicID = Harness.Topic, MessageIDs = { seenId, unknown } } } });
        var iwant = Assert.Single(h.Host.ControlTo(Keys.Peer(1)).SelectMany(c => c.Iwant));
        Assert.Equal([unknown], iwant.MessageIDs);
        Assert.Equal(0, h.Router.GetScore(Keys.Peer(1)));
        h.Heartbeats(4); // past the 3 s follow-up time
        Assert.True(h.Router.GetScore(Keys.Peer(1)) < 0);
    }

    [Fact]
    public void Ihave_floods_are_capped_per_heartbeat()
    {
        var h = new Harness(o => { o.MaxIHaveMessages = 2; o.MaxIHaveLength = 3; });
        h.AddPeer(1, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        h.Host.Sent.Clear();
        for (int r = 0; r < 4; r++)
        {
            var ihave = new ControlIHave { TopicID = Harness.Topic };
            for (int i = 0; i < 10; i++) ihave.MessageIDs.Add(ByteString.CopyFrom(new byte[] { (byte)r, (byte)i }));
            h.Control(1, new ControlMessage { Ihave = { ihave } });
        }
        // At most MaxIHaveLength ids are asked per heartbeat, however many IHAVEs arrive.
        Assert.Equal(3, h.Host.ControlTo(Keys.Peer(1)).SelectMany(c => c.Iwant).Sum(w => w.MessageIDs.Count));
    }

    [Fact]
    public void Peer_exchange_is_accepted_only_above_the_threshold_and_records_are_checked()
    {
        var h = new Harness(o => o.ScoreParams.AppSpecificScore = p => p == Keys.Peer(1) ? 1 : 0); // 1 × 10 = AcceptPXThreshold
        h.AddPeer(1, topics: Harness.Topic);
        h.AddPeer(2, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        var goodRecord = new PeerRecord(Keys.Peer(5), 1, []).Seal(Keys.Key(5)).ToBytes();
        var foreignRecord = new PeerRecord(Keys.Peer(6), 1, []).Seal(Keys.Key(6)).ToBytes();
        h.Prune(1, 60, Harness.Topic,
            new PeerInfo { PeerID = ByteString.CopyFrom(Keys.Peer(5).Bytes.Span), SignedPeerRecord = ByteString.CopyFrom(goodRecord) },
            new PeerInfo { PeerID = ByteString.CopyFrom(Keys.Peer(7).Bytes.Span), SignedPeerRecord = ByteString.CopyFrom(foreignRecord) },
            new PeerInfo { PeerID = ByteString.CopyFrom(Keys.Peer(8).Bytes.Span) },
            new PeerInfo { PeerID = ByteString.CopyFrom([1, 2, 3]) });
        Assert.Equal(2, h.Host.Connects.Count);
        Assert.Contains(h.Host.Connects, c => c.Peer == Keys.Peer(5) && c.Record is not null);
        Assert.Contains(h.Host.Connects, c => c.Peer == Keys.Peer(8) && c.Record is null);
        h.Host.Connects.Clear();
        h.Prune(2, 60, Harness.Topic, new PeerInfo { PeerID = ByteString.CopyFrom(Keys.Peer(9).Bytes.Span) });
        Assert.Empty(h.Host.Connects); // peer 2 scores 0 < 10
    }

    [Fact]
    public void Opportunistic_graft_adds_peers_above_a_low_median()
    {
        var h = new Harness(o =>
        {
            o.OpportunisticGraftTicks = 1;
            o.ScoreParams.AppSpecificScore = p => p == Keys.Peer(9) ? 5 : 0.1; // scores 50 vs 1, threshold 20
        });
        for (int i = 1; i <= 6; i++) h.AddPeer(i, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        h.AddPeer(9, topics: Harness.Topic);
        Assert.DoesNotContain(Keys.Peer(9), h.Router.GetMeshPeers(Harness.Topic));
        h.Heartbeats(1);
        Assert.Contains(Keys.Peer(9), h.Router.GetMeshPeers(Harness.Topic));
    }

    [Fact]
    public void Thresholds_gate_gossip_publishing_and_rpcs()
    {
        double penalty = 0;
        var h = new Harness(o =>
        {
            o.ScoreParams.AppSpecificWeight = 1;
            o.ScoreParams.AppSpecificScore = p => p == Keys.Peer(1) ? penalty : 0;
        });
        h.AddPeer(1, topics: Harness.Topic);
        h.AddPeer(2, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);

        penalty = -20; // below gossip (-10), above publish (-50)
        h.Relay(2, 9, "m1", 1);
        h.Host.Sent.Clear();
        h.Heartbeats(1);
        Assert.Empty(h.Host.ControlTo(Keys.Peer(1)).SelectMany(c => c.Ihave));
        h.Control(1, new ControlMessage { Ihave = { new ControlIHave { TopicID = Harness.Topic, MessageIDs = { ByteString.CopyFrom([9]) } } } });
        Assert.Empty(h.Host.ControlTo(Keys.Peer(1)).SelectMany(c => c.Iwant));
        h.Router.Publish(MessageSigning.CreateSigned(Harness.Topic, [1], Keys.Key(0), 1));
        Assert.Single(h.Host.MessagesTo(Keys.Peer(1))); // still above the publish threshold

        penalty = -60; // below publish
        h.Host.Sent.Clear();
        h.Router.Publish(MessageSigning.CreateSigned(Harness.Topic, [2], Keys.Key(0), 2));
        Assert.Empty(h.Host.MessagesTo(Keys.Peer(1)));

        penalty = -90; // below graylist: everything from the peer is ignored
        h.Subscribe(1, "new-topic");
        Assert.Empty(h.Router.GetTopicPeers("new-topic"));
        int delivered = h.Host.Delivered.Count;
        h.Relay(1, 9, "ignored", 2);
        Assert.Equal(delivered, h.Host.Delivered.Count);
    }

    [Fact]
    public void Large_messages_trigger_idontwant_and_received_idontwant_is_honoured()
    {
        var h = new Harness(o => o.IDontWantMessageThreshold = 100);
        h.AddPeer(1, topics: Harness.Topic);
        h.AddPeer(2, topics: Harness.Topic);
        h.AddPeer(3, GossipSubProtocols.MeshSubV11, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        Assert.Equal(3, h.Router.GetMeshPeers(Harness.Topic).Count);
        h.Host.Sent.Clear();
        var big = h.Relay(1, 9, new string('x', 200), 1);
        var id = Harness.Bytes(h.Router.ComputeId(big));
        Assert.Contains(h.Host.ControlTo(Keys.Peer(2)), c => c.Idontwant.Any(d => d.MessageIDs.Contains(id)));
        Assert.DoesNotContain(h.Host.ControlTo(Keys.Peer(3)), c => c.Idontwant.Count > 0); // v1.1 peer
        Assert.DoesNotContain(h.Host.ControlTo(Keys.Peer(1)), c => c.Idontwant.Count > 0); // the sender

        // Peer 2 says it does not want the next one: we do not forward it to peer 2.
        var next = MessageSigning.CreateSigned(Harness.Topic, new byte[200], Keys.Key(9), 2);
        h.Control(2, new ControlMessage { Idontwant = { new ControlIDontWant { MessageIDs = { Harness.Bytes(h.Router.ComputeId(next)) } } } });
        h.Host.Sent.Clear();
        h.Router.HandleRpc(Keys.Peer(3), new RPC { Publish = { next } });
        Assert.Empty(h.Host.MessagesTo(Keys.Peer(2)));
        Assert.Single(h.Host.MessagesTo(Keys.Peer(1)));
    }

    [Fact]
    public void Async_validation_forwards_only_after_accept_and_reject_blames_all_deliverers()
    {
        var h = new Harness(o => o.ScoreParams.Topics[Harness.Topic] = new TopicScoreParams
        {
            TimeInMeshWeight = 0, FirstMessageDeliveriesWeight = 0, MeshMessageDeliveriesWeight = 0,
        });
        h.Host.Validator = _ => null; // pending until completed
        h.AddPeer(1, topics: Harness.Topic);
        h.AddPeer(2, topics: Harness.Topic);
        h.AddPeer(3, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        h.Host.Sent.Clear();
        var good = h.Relay(1, 9, "good", 1);
        h.Relay(2, 9, "good", 1); // duplicate while validating
        Assert.Empty(h.Host.MessagesTo(Keys.Peer(3)));
        h.Router.CompleteValidation(h.Host.Pending[0], ValidationResult.Accept);
        Assert.Single(h.Host.MessagesTo(Keys.Peer(3)));
        Assert.Single(h.Host.Delivered);

        h.Relay(1, 9, "bad", 2);
        h.Relay(2, 9, "bad", 2);
        Assert.Equal(2, h.Host.Pending.Count);
        h.Router.CompleteValidation(h.Host.Pending[1], ValidationResult.Reject);
        Assert.Equal(-0.5, h.Router.GetScore(Keys.Peer(1)), 9);
        Assert.Equal(-0.5, h.Router.GetScore(Keys.Peer(2)), 9);
        Assert.Single(h.Host.Delivered);
        _ = good;
    }
}
