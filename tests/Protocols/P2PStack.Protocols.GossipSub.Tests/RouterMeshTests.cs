using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub.Tests;

public class RouterMeshTests
{
    private const string Topic = "mesh";

    [Fact]
    public void Mesh_sizes_stay_within_bounds_and_links_are_symmetric()
    {
        var net = new SimNetwork(30, _ => new GossipSubOptions());
        for (int a = 0; a < 30; a++)
            for (int b = a + 1; b < 30; b++)
                net.Connect(a, b);
        foreach (var node in net.Nodes) node.Router.Join(Topic);
        net.Drain();
        for (int round = 0; round < 10; round++)
        {
            net.Heartbeat();
            if (round < 2) continue; // the joins of 30 nodes at once overshoot until the first heartbeats settle
            foreach (var node in net.Nodes)
            {
                var mesh = node.Router.GetMeshPeers(Topic);
                Assert.InRange(mesh.Count, 4, 12);
                foreach (var peer in mesh)
                    Assert.Contains(node.Id, net.ById[peer].Router.GetMeshPeers(Topic));
            }
        }
    }

    [Fact]
    public void Every_subscriber_receives_every_message_on_a_sparse_network()
    {
        const int n = 40;
        var net = new SimNetwork(n, _ => new GossipSubOptions(), seed: 3);
        var random = new Random(11);
        for (int a = 0; a < n; a++)
        {
            net.Connect(a, (a + 1) % n);
            for (int k = 0; k < 3; k++)
            {
                int b = random.Next(n);
                if (b != a && net.Nodes[a].Router.GetProtocol(net.Nodes[b].Id) is null) net.Connect(a, b);
            }
        }
        foreach (var node in net.Nodes) node.Router.Join(Topic);
        net.Drain();
        net.Heartbeat(3);
        for (int m = 0; m < 10; m++)
        {
            net.Nodes[m * 3 % n].Publish(Topic, [(byte)m], (ulong)m + 1);
            net.Drain();
        }
        foreach (var node in net.Nodes)
            Assert.Equal(10, node.Host.Delivered.Select(d => d.Id).Distinct().Count());
    }

    [Fact]
    public void Join_grafts_up_to_D_and_leave_prunes_with_the_unsubscribe_backoff()
    {
        var h = new Harness();
        for (int i = 1; i <= 10; i++) h.AddPeer(i, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        var mesh = h.Router.GetMeshPeers(Harness.Topic);
        Assert.Equal(6, mesh.Count);
        foreach (var peer in mesh)
            Assert.Contains(h.Host.ControlTo(peer), c => c.Graft.Any(g => g.TopicID == Harness.Topic));
        h.Host.Sent.Clear();
        h.Router.Leave(Harness.Topic);
        foreach (var peer in mesh)
        {
            var prune = Assert.Single(h.Host.ControlTo(peer).SelectMany(c => c.Prune));
            Assert.Equal(10ul, prune.Backoff);
            Assert.True(h.Router.IsBackedOff(Harness.Topic, peer));
        }
        Assert.Empty(h.Router.GetMeshPeers(Harness.Topic));
    }

    [Fact]
    public void Oversubscribed_mesh_is_pruned_to_D_keeping_the_outbound_quota()
    {
        var h = new Harness(o => o.DoPeerExchange = true);
        h.Router.Join(Harness.Topic);
        // 14 inbound grafts fill the mesh up to D_high, then only outbound peers are accepted.
        for (int i = 1; i <= 14; i++) h.AddPeer(i, outbound: i > 12, topics: Harness.Topic);
        for (int i = 1; i <= 14; i++) h.Graft(i);
        Assert.Equal(14, h.Router.GetMeshPeers(Harness.Topic).Count);
        h.Host.Sent.Clear();
        h.Heartbeats(1);
        var mesh = h.Router.GetMeshPeers(Harness.Topic);
        Assert.Equal(6, mesh.Count);
        Assert.Contains(Keys.Peer(13), mesh);
        Assert.Contains(Keys.Peer(14), mesh);
        var pruned = Enumerable.Range(1, 14).Select(Keys.Peer).Where(p => !mesh.Contains(p)).ToList();
        Assert.Equal(8, pruned.Count);
        foreach (var peer in pruned)
        {
            var prune = Assert.Single(h.Host.ControlTo(peer).SelectMany(c => c.Prune));
            Assert.Equal(60ul, prune.Backoff);
            Assert.NotEmpty(prune.Peers); // peer exchange is on
            Assert.DoesNotContain(prune.Peers, p => p.PeerID.Span.SequenceEqual(peer.Bytes.Span));
        }
        // A pruned peer grafting right back violates the backoff within the flood threshold: two penalties, P7 = 2² × -10.
        int back = Enumerable.Range(1, 14).First(i => pruned.Contains(Keys.Peer(i)));
        h.Graft(back);
        Assert.DoesNotContain(Keys.Peer(back), h.Router.GetMeshPeers(Harness.Topic));
        Assert.Equal(-40, h.Router.GetScore(Keys.Peer(back)), 6);
    }

    [Fact]
    public void Inbound_graft_at_D_high_is_refused()
    {
        var h = new Harness();
        h.Router.Join(Harness.Topic);
        for (int i = 1; i <= 13; i++) h.AddPeer(i, outbound: false, topics: Harness.Topic);
        for (int i = 1; i <= 13; i++) h.Graft(i);
        Assert.Equal(12, h.Router.GetMeshPeers(Harness.Topic).Count);
        Assert.Contains(h.Host.ControlTo(Keys.Peer(13)), c => c.Prune.Count == 1);
    }

    [Fact]
    public void Prune_backoff_from_the_remote_is_respected_before_regrafting()
    {
        var h = new Harness();
        var peer = h.AddPeer(1, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        Assert.Contains(peer, h.Router.GetMeshPeers(Harness.Topic));
        h.Prune(1, backoffSeconds: 30);
        Assert.DoesNotContain(peer, h.Router.GetMeshPeers(Harness.Topic));
        h.Host.Sent.Clear();
        h.Heartbeats(29);
        Assert.DoesNotContain(peer, h.Router.GetMeshPeers(Harness.Topic));
        Assert.DoesNotContain(h.Host.ControlTo(peer), c => c.Graft.Count > 0);
        h.Heartbeats(20); // past the backoff plus the slack of the next clearing heartbeat
        Assert.Contains(peer, h.Router.GetMeshPeers(Harness.Topic));
        Assert.Contains(h.Host.ControlTo(peer), c => c.Graft.Count > 0);
    }

    [Fact]
    public void Graft_during_our_backoff_is_pruned_and_penalised()
    {
        var h = new Harness();
        var peer = h.AddPeer(1, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        h.Router.Leave(Harness.Topic);
        h.Router.Join(Harness.Topic); // the backoff keeps peer 1 out of the new mesh
        Assert.DoesNotContain(peer, h.Router.GetMeshPeers(Harness.Topic));
        h.Host.Sent.Clear();
        h.Graft(1);
        Assert.DoesNotContain(peer, h.Router.GetMeshPeers(Harness.Topic));
        Assert.Single(h.Host.ControlTo(peer).SelectMany(c => c.Prune));
        // One penalty for the backoff violation (the unsubscribe backoff is shorter than the flood threshold window).
        Assert.Equal(-10, h.Router.GetScore(peer), 6);
    }

    [Fact]
    public void Graft_for_unknown_topic_is_ignored_without_answer()
    {
        var h = new Harness();
        h.AddPeer(1, topics: "other");
        h.Graft(1, "other");
        Assert.Empty(h.Host.ControlTo(Keys.Peer(1)));
    }

    [Fact]
    public void Direct_peers_are_never_grafted_and_always_get_messages()
    {
        var h = new Harness(o => o.DirectPeers = [(Keys.Peer(1), [])]);
        var direct = h.AddPeer(1, topics: Harness.Topic);
        for (int i = 2; i <= 4; i++) h.AddPeer(i, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        Assert.DoesNotContain(direct, h.Router.GetMeshPeers(Harness.Topic));
        h.Graft(1);
        Assert.DoesNotContain(direct, h.Router.GetMeshPeers(Harness.Topic));
        Assert.Contains(h.Host.ControlTo(direct), c => c.Prune.Count == 1);
        h.Host.Sent.Clear();
        h.Relay(2, 9, "hello", 1);
        Assert.Single(h.Host.MessagesTo(direct));
    }

    [Fact]
    public void Fanout_is_used_for_unsubscribed_topics_and_expires()
    {
        var h = new Harness(o => o.FloodPublish = false);
        for (int i = 1; i <= 10; i++) h.AddPeer(i, topics: Harness.Topic);
        h.Router.Publish(MessageSigning.CreateSigned(Harness.Topic, [1], Keys.Key(0), 1));
        var fanout = h.Router.GetFanoutPeers(Harness.Topic);
        Assert.Equal(6, fanout.Count);
        Assert.Equal(6, h.Host.Sent.Count(s => s.Rpc.Publish.Count == 1));
        h.Heartbeats(30);
        Assert.Equal(6, h.Router.GetFanoutPeers(Harness.Topic).Count);
        h.Heartbeats(31);
        Assert.Empty(h.Router.GetFanoutPeers(Harness.Topic));
    }

    [Fact]
    public void Flood_publish_reaches_every_topic_peer()
    {
        var h = new Harness();
        for (int i = 1; i <= 10; i++) h.AddPeer(i, topics: Harness.Topic);
        h.AddPeer(11, topics: "elsewhere");
        h.Router.Join(Harness.Topic);
        h.Host.Sent.Clear();
        h.Router.Publish(MessageSigning.CreateSigned(Harness.Topic, [1], Keys.Key(0), 1));
        Assert.Equal(10, h.Host.Sent.Count(s => s.Rpc.Publish.Count == 1));
        Assert.Empty(h.Host.MessagesTo(Keys.Peer(11)));
        Assert.Single(h.Host.Delivered); // our own subscription
    }

    [Fact]
    public void Floodsub_peers_get_messages_but_no_control()
    {
        var h = new Harness();
        var flood = h.AddPeer(1, GossipSubProtocols.FloodSub, topics: Harness.Topic);
        h.AddPeer(2, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        Assert.DoesNotContain(flood, h.Router.GetMeshPeers(Harness.Topic));
        h.Relay(2, 9, "x", 1);
        h.Heartbeats(3);
        Assert.Single(h.Host.MessagesTo(flood));
        Assert.Empty(h.Host.ControlTo(flood));
    }

    [Fact]
    public void Unsubscribing_peer_leaves_the_mesh()
    {
        var h = new Harness();
        var peer = h.AddPeer(1, topics: Harness.Topic);
        h.Router.Join(Harness.Topic);
        Assert.Contains(peer, h.Router.GetMeshPeers(Harness.Topic));
        h.Router.HandleRpc(peer, new RPC { Subscriptions = { new RPC.Types.SubOpts { Subscribe = false, Topicid = Harness.Topic } } });
        Assert.DoesNotContain(peer, h.Router.GetMeshPeers(Harness.Topic));
        Assert.Empty(h.Router.GetTopicPeers(Harness.Topic));
    }

    [Fact]
    public void Honest_peers_pruned_from_the_mesh_keep_a_non_negative_score_and_are_grafted_again()
    {
        var h = new Harness(o => o.ScoreParams.Topics[Harness.Topic] = new TopicScoreParams
        {
            TopicWeight = 1, TimeInMeshWeight = 0.01, TimeInMeshCap = 10,
            FirstMessageDeliveriesWeight = 1, FirstMessageDeliveriesDecay = 0.5, FirstMessageDeliveriesCap = 10,
            MeshMessageDeliveriesWeight = -1, MeshMessageDeliveriesThreshold = 1, MeshMessageDeliveriesCap = 10,
            MeshMessageDeliveriesDecay = 0.5, MeshMessageDeliveriesActivation = TimeSpan.FromSeconds(3),
            MeshFailurePenaltyWeight = -1, MeshFailurePenaltyDecay = 0.5,
        });
        h.Router.Join(Harness.Topic);
        for (int i = 1; i <= 14; i++) h.AddPeer(i, outbound: true, topics: Harness.Topic);
        for (int i = 1; i <= 12; i++) h.Graft(i);
        ulong seqno = 0;
        void MeshPeersDeliver()
        {
            foreach (var peer in h.Router.GetMeshPeers(Harness.Topic))
                for (int copy = 0; copy < 2; copy++) h.Relay(Enumerable.Range(1, 14).First(i => Keys.Peer(i) == peer), 100, "m", ++seqno);
        }
        for (int second = 0; second < 5; second++)
        {
            MeshPeersDeliver();
            h.Heartbeats(1);
        }
        // Two more (outbound) peers take the mesh above D_high: the heartbeat prunes 8 of 14 peers, all of them active
        // in P3 and none with a delivery deficit.
        h.Graft(13);
        h.Graft(14);
        MeshPeersDeliver();
        h.Heartbeats(1);
        var kept = h.Router.GetMeshPeers(Harness.Topic);
        Assert.Equal(6, kept.Count);
        var all = Enumerable.Range(1, 14).Select(Keys.Peer).ToList();
        for (int second = 0; second < 10; second++)
        {
            MeshPeersDeliver();
            h.Heartbeats(1);
        }
        // Out of the mesh their delivery counters decayed to zero: without P3 there, nothing is negative.
        Assert.All(all.Where(p => !kept.Contains(p)), p => Assert.True(h.Router.GetScore(p) >= 0, $"score {h.Router.GetScore(p)}"));
        // The kept peers leave the mesh too; once the backoffs run out, the heartbeat grafts D peers again from the
        // 14 (and keeps them: they deliver), which it would refuse if their scores had gone negative.
        foreach (var peer in kept) h.Prune(all.IndexOf(peer) + 1);
        Assert.Empty(h.Router.GetMeshPeers(Harness.Topic));
        for (int second = 0; second < 80; second++)
        {
            MeshPeersDeliver();
            h.Heartbeats(1);
        }
        Assert.Equal(6, h.Router.GetMeshPeers(Harness.Topic).Count);
        Assert.All(all, p => Assert.True(h.Router.GetScore(p) >= 0, $"score {h.Router.GetScore(p)}"));
    }
}
