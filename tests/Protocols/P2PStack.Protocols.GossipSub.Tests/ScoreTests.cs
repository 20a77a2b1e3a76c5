using System.Net;
using P2PStack.Identity;

namespace P2PStack.Protocols.GossipSub.Tests;

/// <summary>Each score term against a hand-computed value.</summary>
public class ScoreTests
{
    private const string T = "t";
    private readonly ManualTime _time = new();
    private static readonly PeerId P = Keys.Peer(1);

    private static TopicScoreParams Zero() => new()
    {
        TopicWeight = 0.5, TimeInMeshWeight = 0, FirstMessageDeliveriesWeight = 0, MeshMessageDeliveriesWeight = 0,
        MeshFailurePenaltyWeight = 0, InvalidMessageDeliveriesWeight = 0,
    };

    private PeerScore Score(TopicScoreParams topic, Action<PeerScoreParams>? configure = null)
    {
        var parameters = new PeerScoreParams { AppSpecificWeight = 0, IPColocationFactorWeight = 0, BehaviourPenaltyWeight = 0 };
        parameters.Topics[T] = topic;
        configure?.Invoke(parameters);
        parameters.Validate();
        var score = new PeerScore(parameters, _time, TimeSpan.FromMinutes(2));
        score.AddPeer(P, []);
        return score;
    }

    private static MessageId Id(int i) => new([(byte)i]);

    [Fact]
    public void P1_time_in_mesh_is_whole_quanta_capped()
    {
        var t = Zero();
        t.TimeInMeshWeight = 0.1;
        t.TimeInMeshQuantum = TimeSpan.FromSeconds(2);
        t.TimeInMeshCap = 4;
        var s = Score(t);
        s.Graft(P, T);
        _time.Advance(TimeSpan.FromSeconds(7));
        s.RefreshIfDue();
        Assert.Equal(3 * 0.1 * 0.5, s.Score(P), 9); // floor(7/2) = 3
        _time.Advance(TimeSpan.FromSeconds(60));
        s.RefreshIfDue();
        Assert.Equal(4 * 0.1 * 0.5, s.Score(P), 9); // capped at 4
    }

    [Fact]
    public void P2_first_deliveries_count_capped_and_decay()
    {
        var t = Zero();
        t.FirstMessageDeliveriesWeight = 2;
        t.FirstMessageDeliveriesCap = 3;
        t.FirstMessageDeliveriesDecay = 0.5;
        var s = Score(t);
        for (int i = 0; i < 5; i++)
        {
            s.ValidateMessage(Id(i));
            s.DeliverMessage(Id(i), T, P);
        }
        Assert.Equal(3 * 2 * 0.5, s.Score(P), 9);
        _time.Advance(TimeSpan.FromSeconds(1));
        s.RefreshIfDue();
        Assert.Equal(1.5 * 2 * 0.5, s.Score(P), 9);
    }

    [Fact]
    public void P3_deficit_squared_after_activation_and_P3b_sticks_after_prune()
    {
        var t = Zero();
        t.MeshMessageDeliveriesWeight = -1;
        t.MeshMessageDeliveriesThreshold = 10;
        t.MeshMessageDeliveriesCap = 20;
        t.MeshMessageDeliveriesDecay = 0.9;
        t.MeshMessageDeliveriesActivation = TimeSpan.FromSeconds(5);
        t.MeshFailurePenaltyWeight = -2;
        t.MeshFailurePenaltyDecay = 0.5;
        var s = Score(t, p => p.DecayInterval = TimeSpan.FromSeconds(10));
        s.Graft(P, T);
        for (int i = 0; i < 4; i++)
        {
            s.ValidateMessage(Id(i));
            s.DeliverMessage(Id(i), T, P);
        }
        Assert.Equal(0, s.Score(P), 9); // not active yet
        _time.Advance(TimeSpan.FromSeconds(10));
        s.RefreshIfDue(); // 4 × 0.9 = 3.6 deliveries, mesh time 10 s > 5 s activates
        double deficit = 10 - 3.6;
        Assert.Equal(deficit * deficit * -1 * 0.5, s.Score(P), 9);
        s.Prune(P, T);
        // P3b = deficit² is added and P3 stops: it rates mesh peers only (as rust-libp2p and js-libp2p do).
        Assert.Equal(deficit * deficit * -2 * 0.5, s.Score(P), 9);
    }

    private static TopicScoreParams DeliveryOnly() => new()
    {
        TopicWeight = 1, TimeInMeshWeight = 0, FirstMessageDeliveriesWeight = 0, InvalidMessageDeliveriesWeight = 0,
        MeshMessageDeliveriesWeight = -1, MeshMessageDeliveriesThreshold = 3, MeshMessageDeliveriesCap = 10,
        MeshMessageDeliveriesDecay = 0.5, MeshMessageDeliveriesActivation = TimeSpan.FromSeconds(2),
        MeshMessageDeliveriesWindow = TimeSpan.FromSeconds(1), MeshFailurePenaltyWeight = -1, MeshFailurePenaltyDecay = 0.5,
    };

    private void DeliverFirst(PeerScore s, PeerId from, int first, int count)
    {
        for (int i = first; i < first + count; i++)
        {
            s.ValidateMessage(Id(i));
            s.DeliverMessage(Id(i), T, from);
        }
    }

    [Fact]
    public void A_peer_pruned_without_a_deficit_is_not_penalised_while_out_of_the_mesh()
    {
        var s = Score(DeliveryOnly());
        s.Graft(P, T);
        DeliverFirst(s, P, 0, 10);
        _time.Advance(TimeSpan.FromSeconds(3));
        s.RefreshIfDue(); // three decays (10 → 1.25) and 3 s in the mesh: P3 is active
        DeliverFirst(s, P, 10, 5); // 6.25 deliveries: above the threshold of 3
        Assert.Equal(0, s.Score(P), 9);
        s.Prune(P, T); // e.g. our mesh was oversubscribed: no deficit, so no P3b
        _time.Advance(TimeSpan.FromSeconds(30));
        s.RefreshIfDue(); // the delivery counter decays to zero outside the mesh
        Assert.Equal(0, s.Score(P), 9);
        // Grafted again, P3 waits for a new activation period.
        s.Graft(P, T);
        _time.Advance(TimeSpan.FromSeconds(1));
        s.RefreshIfDue();
        Assert.Equal(0, s.Score(P), 9);
        _time.Advance(TimeSpan.FromSeconds(2));
        s.RefreshIfDue();
        Assert.Equal(-9, s.Score(P), 9); // active again and nothing delivered: deficit 3²
    }

    [Fact]
    public void A_retained_peer_that_reconnects_is_not_rated_as_a_mesh_peer()
    {
        var s = Score(DeliveryOnly(), p => p.RetainScore = TimeSpan.FromMinutes(10));
        s.Graft(P, T);
        _time.Advance(TimeSpan.FromSeconds(3));
        s.RefreshIfDue();
        DeliverFirst(s, P, 0, 2); // active with 2 deliveries: deficit 1
        Assert.Equal(-1, s.Score(P), 9);
        s.RemovePeer(P); // retained (not positive); the deficit becomes P3b = 1
        Assert.Equal(-1, s.Score(P), 9);
        s.AddPeer(P, []);
        _time.Advance(TimeSpan.FromSeconds(10));
        s.RefreshIfDue(); // P3b decays away; the peer is not in our mesh, so no P3
        Assert.Equal(0, s.Score(P), 9);
    }

    [Fact]
    public void A_mesh_peer_is_credited_once_per_message_however_many_copies_it_sends()
    {
        var s = Score(DeliveryOnly());
        var other = Keys.Peer(2);
        s.AddPeer(other, []);
        s.Graft(P, T);
        _time.Advance(TimeSpan.FromSeconds(3));
        s.RefreshIfDue();
        for (int i = 0; i < 3; i++)
        {
            s.ValidateMessage(Id(i));
            s.DuplicateMessage(Id(i), T, P); // P's copy arrives while the first one validates
            s.DeliverMessage(Id(i), T, other);
            s.DuplicateMessage(Id(i), T, P); // and again (an IWANT answer, say) within the window
        }
        Assert.Equal(0, s.Score(P), 9); // three credits reach the threshold of 3
        _time.Advance(TimeSpan.FromSeconds(1));
        s.RefreshIfDue(); // 3 × 0.5 = 1.5 (six credits would have left 3: no deficit)
        Assert.Equal(-(1.5 * 1.5), s.Score(P), 9);
    }

    [Fact]
    public void P3_counts_near_first_deliveries_inside_the_window_only()
    {
        var t = Zero();
        t.MeshMessageDeliveriesWeight = -1;
        t.MeshMessageDeliveriesThreshold = 2;
        t.MeshMessageDeliveriesCap = 2;
        t.MeshMessageDeliveriesActivation = TimeSpan.FromSeconds(1);
        t.MeshMessageDeliveriesWindow = TimeSpan.FromMilliseconds(10);
        var s = Score(t);
        var other = Keys.Peer(2);
        s.AddPeer(other, []);
        s.Graft(P, T);
        _time.Advance(TimeSpan.FromSeconds(2));
        s.RefreshIfDue();
        // Message 1: P's copy arrives 5 ms after validation (counts); message 2: 50 ms after (does not).
        s.ValidateMessage(Id(1));
        s.DeliverMessage(Id(1), T, other);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        s.DuplicateMessage(Id(1), T, P);
        s.ValidateMessage(Id(2));
        s.DeliverMessage(Id(2), T, other);
        _time.Advance(TimeSpan.FromMilliseconds(50));
        s.DuplicateMessage(Id(2), T, P);
        Assert.Equal(-1 * 0.5, s.Score(P), 9); // deficit 2 - 1 = 1
    }

    [Fact]
    public void P4_invalid_deliveries_squared_for_sender_and_forwarders()
    {
        var t = Zero();
        t.InvalidMessageDeliveriesWeight = -3;
        t.InvalidMessageDeliveriesDecay = 0.5;
        var s = Score(t);
        var forwarder = Keys.Peer(2);
        s.AddPeer(forwarder, []);
        s.ValidateMessage(Id(1));
        s.DuplicateMessage(Id(1), T, forwarder); // arrives while validating
        s.RejectMessage(Id(1), T, P, RejectReason.ValidationFailed);
        s.RejectMessage(null, T, P, RejectReason.InvalidSignature);
        Assert.Equal(4 * -3 * 0.5, s.Score(P), 9); // 2 invalid → 2²
        Assert.Equal(1 * -3 * 0.5, s.Score(forwarder), 9);
        s.ValidateMessage(Id(2));
        s.RejectMessage(Id(2), T, forwarder, RejectReason.ValidationIgnored);
        Assert.Equal(1 * -3 * 0.5, s.Score(forwarder), 9); // ignore is free
    }

    [Fact]
    public void Topic_cap_limits_positive_topic_total_only()
    {
        var t = Zero();
        t.FirstMessageDeliveriesWeight = 10;
        var s = Score(t, p => p.TopicScoreCap = 3);
        s.ValidateMessage(Id(1));
        s.DeliverMessage(Id(1), T, P);
        Assert.Equal(3, s.Score(P), 9);
    }

    [Fact]
    public void P5_application_score_is_weighted()
    {
        var s = Score(Zero(), p =>
        {
            p.AppSpecificWeight = 2;
            p.AppSpecificScore = peer => peer == P ? -7 : 0;
        });
        Assert.Equal(-14, s.Score(P), 9);
    }

    [Fact]
    public void P6_colocation_is_the_squared_surplus_per_ip_and_ipv6_counts_by_64()
    {
        var s = Score(Zero(), p =>
        {
            p.IPColocationFactorWeight = -1;
            p.IPColocationFactorThreshold = 2;
        });
        var ip = IPAddress.Parse("203.0.113.7");
        s.AddPeer(P, [ip]);
        for (int i = 2; i <= 5; i++) s.AddPeer(Keys.Peer(i), [ip]);
        Assert.Equal(-9, s.Score(P), 9); // 5 peers, threshold 2 → 3²
        s.AddPeer(Keys.Peer(10), [IPAddress.Parse("2001:db8::1")]);
        for (int i = 11; i <= 13; i++) s.AddPeer(Keys.Peer(i), [IPAddress.Parse($"2001:db8::{i}")]);
        Assert.Equal(-4, s.Score(Keys.Peer(10)), 9); // 4 in the /64 → 2²
        s.AddPeer(Keys.Peer(20), [IPAddress.Loopback]);
        for (int i = 21; i <= 25; i++) s.AddPeer(Keys.Peer(i), [IPAddress.Loopback]);
        Assert.Equal(0, s.Score(Keys.Peer(20)), 9); // loopback is whitelisted by default
    }

    [Fact]
    public void P7_behaviour_penalty_is_the_squared_excess_and_decays()
    {
        var s = Score(Zero(), p =>
        {
            p.BehaviourPenaltyWeight = -1;
            p.BehaviourPenaltyThreshold = 1;
            p.BehaviourPenaltyDecay = 0.5;
        });
        s.AddPenalty(P, 4);
        Assert.Equal(-9, s.Score(P), 9); // (4 - 1)²
        _time.Advance(TimeSpan.FromSeconds(1));
        s.RefreshIfDue();
        Assert.Equal(-1, s.Score(P), 9); // (2 - 1)²
    }

    [Fact]
    public void Negative_scores_are_retained_after_disconnect_and_expire()
    {
        var s = Score(Zero(), p =>
        {
            p.BehaviourPenaltyWeight = -1;
            p.BehaviourPenaltyDecay = 0.5;
            p.RetainScore = TimeSpan.FromSeconds(30);
        });
        s.AddPenalty(P, 2);
        s.RemovePeer(P);
        _time.Advance(TimeSpan.FromSeconds(10));
        s.RefreshIfDue();
        Assert.Equal(-4, s.Score(P), 9); // not decayed while away
        _time.Advance(TimeSpan.FromSeconds(25));
        s.RefreshIfDue();
        Assert.Equal(0, s.Score(P), 9);
        Assert.Equal(0, s.TrackedPeerCount);
    }

    [Fact]
    public void Invalid_parameters_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new PeerScoreThresholds { GossipThreshold = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new PeerScoreThresholds { PublishThreshold = -5, GossipThreshold = -10 }.Validate());
        Assert.Throws<ArgumentException>(() => new TopicScoreParams { MeshMessageDeliveriesWeight = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new PeerScoreParams { BehaviourPenaltyWeight = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new GossipSubOptions { DOut = 4 }.Validate());
    }
}
