using P2PStack.Identity;

namespace P2PStack.Consensus.Dag.Tests;

public class EngineTests
{
    private static bool AllDecided(EngineCluster cluster, params VertexId[] ids) =>
        cluster.Engines.Select((e, i) => (e, i)).Where(x => !cluster.Offline.Contains(x.i))
            .All(x => ids.All(id => x.e.StatusOf(id) is VertexStatus.Accepted or VertexStatus.Rejected));

    [Fact]
    public void A_proposal_is_accepted_by_every_node()
    {
        var cluster = new EngineCluster(7);
        var vertex = cluster.Propose(3, "hello");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, vertex.Id)));
        Assert.All(cluster.Engines, e => Assert.Equal(VertexStatus.Accepted, e.StatusOf(vertex.Id)));
        var local = Assert.Single(cluster.Observers[3].Decisions);
        Assert.True(local.Local);
        Assert.Equal(VertexStatus.Accepted, local.Outcome);
        Assert.True(local.Latency > TimeSpan.Zero);
        // Beta consecutive successful polls at least.
        Assert.True(cluster.Engines[3].Counters.PollsCompleted >= cluster.Options.Beta);
    }

    [Fact]
    public void Conflicting_proposals_end_with_one_accepted_everywhere()
    {
        var cluster = new EngineCluster(9, seed: 3);
        var a = cluster.Propose(0, "pay alice", "coin-1");
        var b = cluster.Propose(4, "pay bob", "coin-1");
        var c = cluster.Propose(8, "pay carol", "coin-1");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, a.Id, b.Id, c.Id)));
        var winners = cluster.Engines.Select(e => e.AcceptedFor(ConflictKey.FromText("coin-1"))).Distinct().ToList();
        var winner = Assert.Single(winners);
        Assert.NotNull(winner);
        foreach (var engine in cluster.Engines)
            foreach (var id in new[] { a.Id, b.Id, c.Id })
                Assert.Equal(id == winner ? VertexStatus.Accepted : VertexStatus.Rejected, engine.StatusOf(id));
    }

    [Fact]
    public void Later_vertices_build_on_accepted_ones_and_a_vote_counts_for_the_ancestry()
    {
        var cluster = new EngineCluster(5);
        var first = cluster.Propose(0, "one");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, first.Id)));
        var second = cluster.Propose(1, "two");
        Assert.Equal([first.Id], second.Parents);
        Assert.Equal(1UL, second.Height);
        var third = cluster.Propose(1, "three");
        Assert.Contains(second.Id, third.Parents); // an undecided vertex without conflict keys is a safe parent
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, second.Id, third.Id)));
        Assert.All(cluster.Engines, e => Assert.Equal(VertexStatus.Accepted, e.StatusOf(third.Id)));
    }

    [Fact]
    public void A_node_does_not_sign_two_vertices_with_one_conflict_key()
    {
        var cluster = new EngineCluster(3);
        var first = cluster.Propose(0, "a", "k");
        var e = Assert.Throws<ConflictKeyInUseException>(() => cluster.Propose(0, "b", "k"));
        Assert.Equal(first.Id, e.Existing);
    }

    [Fact]
    public void A_vertex_on_a_decided_key_is_rejected_on_arrival()
    {
        var cluster = new EngineCluster(5);
        var first = cluster.Propose(0, "first", "k");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, first.Id)));
        var late = cluster.Propose(2, "late", "k");
        Assert.Equal(VertexStatus.Rejected, cluster.Engines[2].StatusOf(late.Id));
        Assert.Equal(VertexStatus.Rejected, Assert.Single(cluster.Observers[2].Decisions, d => d.Id == late.Id).Outcome);
        // Nobody is asked about a rejected vertex; handed to another node, it is rejected there on arrival too.
        cluster.Inject(cluster.Peer(2), 3, Push(late));
        Assert.Equal(VertexStatus.Rejected, cluster.Engines[3].StatusOf(late.Id));
    }

    [Fact]
    public void An_equivocation_is_reported_with_a_proof()
    {
        // Node 6 is the liar: a member that votes like the others but signs two vertices for one conflict key.
        var cluster = new EngineCluster(7);
        var liar = cluster.Keys[6];
        var key = ConflictKey.FromText("coin-9");
        var a = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "to alice"u8, liar);
        var b = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "to bob"u8, liar);
        for (int i = 0; i < 6; i++) cluster.Inject(cluster.Peer(6), i, Push(i % 2 == 0 ? a : b));
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, a.Id, b.Id)));
        for (int i = 0; i < 6; i++)
        {
            var proof = Assert.Single(cluster.Observers[i].Equivocations);
            Assert.Equal(cluster.Peer(6), proof.Author);
            Assert.Equal(key, proof.Key);
            EquivocationProof.Verify(proof.First.Envelope, proof.Second.Envelope, cluster.Options, cluster.Now);
            Assert.Equal(1, cluster.Engines[i].Counters.Equivocations);
        }
        // Consensus still decides the conflict: the same one of the two everywhere.
        Assert.Single(cluster.Engines.Select(e => e.AcceptedFor(key)).Distinct());
    }

    [Fact]
    public void Rejection_reaches_the_descendants_of_a_losing_vertex()
    {
        var cluster = new EngineCluster(5);
        var winner = cluster.Propose(0, "winner", "k");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, winner.Id)));
        // Node 4 signs a vertex on the decided key, and a child of it: both rejected where they arrive.
        var loser = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [ConflictKey.FromText("k")], "loser"u8, cluster.Keys[4]);
        var child = VertexCodec.Seal(cluster.Options, [loser.Id], 1, cluster.Now, [], "child"u8, cluster.Keys[4]);
        cluster.Inject(cluster.Peer(4), 1, Push(loser, child));
        Assert.Equal(VertexStatus.Rejected, cluster.Engines[1].StatusOf(loser.Id));
        Assert.Equal(VertexStatus.Rejected, cluster.Engines[1].StatusOf(child.Id));
    }

    [Fact]
    public void Conflicting_undecided_vertices_lose_together_with_their_descendants()
    {
        var cluster = new EngineCluster(7, seed: 5);
        var key = ConflictKey.FromText("k");
        // Node 6 signs two conflicting vertices and a child on each, all at once at every node.
        var a = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "a"u8, cluster.Keys[6]);
        var b = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "b"u8, cluster.Keys[6]);
        var childOfA = VertexCodec.Seal(cluster.Options, [a.Id], 1, cluster.Now, [], "under a"u8, cluster.Keys[6]);
        var childOfB = VertexCodec.Seal(cluster.Options, [b.Id], 1, cluster.Now, [], "under b"u8, cluster.Keys[6]);
        for (int i = 0; i < 6; i++) cluster.Inject(cluster.Peer(6), i, Push(a, b, childOfA, childOfB));
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, a.Id, b.Id, childOfA.Id, childOfB.Id)));
        var winner = cluster.Engines[0].AcceptedFor(key);
        var (won, lost) = winner == a.Id ? (childOfA, childOfB) : (childOfB, childOfA);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(winner, cluster.Engines[i].AcceptedFor(key));
            Assert.Equal(VertexStatus.Accepted, cluster.Engines[i].StatusOf(won.Id));
            Assert.Equal(VertexStatus.Rejected, cluster.Engines[i].StatusOf(lost.Id));
        }
    }

    [Fact]
    public void A_restarted_node_recovers_its_dag_and_votes_on()
    {
        var cluster = new EngineCluster(5);
        var first = cluster.Propose(0, "first");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, first.Id)));
        cluster.Restart(2);
        Assert.Equal(VertexStatus.Accepted, cluster.Engines[2].StatusOf(first.Id));
        Assert.Equal(1, cluster.Engines[2].AcceptedCount);
        var second = cluster.Propose(2, "after restart", "k");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, second.Id)));
        Assert.All(cluster.Engines, e => Assert.Equal(VertexStatus.Accepted, e.StatusOf(second.Id)));
        // It remembers it already used the key.
        cluster.Restart(2);
        Assert.Throws<ConflictKeyInUseException>(() => cluster.Propose(2, "again", "k"));
    }

    [Fact]
    public void A_node_that_was_offline_catches_up_through_the_frontier()
    {
        // One member of ten offline: the others' polls lose its slots (about a tenth) and still succeed.
        var cluster = new EngineCluster(10, o => o.SyncInterval = TimeSpan.FromSeconds(2));
        cluster.Offline.Add(9);
        var ids = new List<VertexId>();
        for (int i = 0; i < 12; i++)
        {
            ids.Add((i % 3 == 0 ? cluster.Propose(i % 5, $"v{i}", $"key-{i}") : cluster.Propose(i % 5, $"v{i}")).Id);
            cluster.Advance(TimeSpan.FromMilliseconds(50));
        }
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, [.. ids])));
        Assert.Equal(0, cluster.Engines[9].VertexCount);
        cluster.Offline.Remove(9);
        Assert.True(cluster.RunUntil(() => ids.All(id => cluster.Engines[9].StatusOf(id) == VertexStatus.Accepted), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void With_fewer_members_than_k_the_sample_draws_with_replacement()
    {
        var cluster = new EngineCluster(3);
        var sample = cluster.Membership.Sample(cluster.Peer(0), 20, new Random(1));
        Assert.Equal(20, sample.Sum(s => s.Slots));
        Assert.DoesNotContain(sample, s => s.Peer == cluster.Peer(0));
        Assert.Equal(2, sample.Count);
        var vertex = cluster.Propose(0, "small network");
        Assert.True(cluster.RunUntil(() => AllDecided(cluster, vertex.Id)));
    }

    [Fact]
    public void A_large_uniform_membership_is_sampled_without_replacement_and_weights_bias_the_draw()
    {
        var peers = Enumerable.Range(1, 60).Select(i => PeerId.FromPublicKey(Ed25519PrivateKey.FromSeed(Enumerable.Repeat((byte)i, 32).ToArray()).PublicKey)).ToList();
        var uniform = new StaticMembership(peers);
        var sample = uniform.Sample(peers[0], 20, new Random(2));
        Assert.Equal(20, sample.Count);
        Assert.All(sample, s => Assert.Equal(1, s.Slots));
        Assert.DoesNotContain(sample, s => s.Peer == peers[0]);

        // One validator with 9 of 10 units of stake (besides the sampler) gets about 90% of the slots.
        var weighted = new StaticMembership([new DagValidator(peers[0]), new DagValidator(peers[1], 9), new DagValidator(peers[2], 1)]);
        var random = new Random(3);
        int heavy = 0;
        for (int i = 0; i < 200; i++) heavy += weighted.Sample(peers[0], 20, random).Where(s => s.Peer == peers[1]).Sum(s => s.Slots);
        Assert.InRange(heavy / 4000.0, 0.85, 0.95);
    }

    [Fact]
    public void The_uniform_sample_is_the_first_k_of_a_seeded_permutation_of_the_other_members()
    {
        // The sampler swaps only the positions it draws (O(k) a poll); it must draw exactly what a partial
        // Fisher-Yates over the list of the other members (in the table's order) draws, wherever the sampler is in it.
        var peers = Enumerable.Range(1, 60).Select(i => PeerId.FromPublicKey(Ed25519PrivateKey.FromSeed(Enumerable.Repeat((byte)i, 32).ToArray()).PublicKey)).ToList();
        var membership = new StaticMembership(peers);
        var ordered = membership.Members;
        var outsider = PeerId.FromPublicKey(Ed25519PrivateKey.FromSeed(Enumerable.Repeat((byte)200, 32).ToArray()).PublicKey);
        foreach (var self in new[] { ordered[0], ordered[29], ordered[^1], outsider })
        {
            for (int seed = 0; seed < 20; seed++)
            {
                var others = ordered.Where(p => p != self).ToList();
                var reference = new Random(seed);
                for (int i = 0; i < 20; i++)
                {
                    int j = reference.Next(i, others.Count);
                    (others[i], others[j]) = (others[j], others[i]);
                }
                var sample = membership.Sample(self, 20, new Random(seed));
                Assert.Equal(others.Take(20), sample.Select(s => s.Peer));
            }
        }
    }

    [Fact]
    public void A_query_repeating_the_previous_one_is_answered_from_the_current_state()
    {
        // Answers to a query naming the same ids as the previous one are reused only while nothing they read changed.
        var cluster = new EngineCluster(3);
        var answers = new List<byte[]>();
        var fetches = new List<(PeerId To, ulong RequestId)>();
        cluster.Intercept = (from, to, message) =>
        {
            if (from == 1 && message.KindCase == Messages.DagMessage.KindOneofCase.Votes) answers.Add(message.Votes.Preferred.ToByteArray());
            if (from == 1 && message.KindCase == Messages.DagMessage.KindOneofCase.GetVertices) fetches.Add((to, message.RequestId));
            return null;
        };
        var vertex = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], "v"u8, cluster.Keys[2]);
        var other = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], "w"u8, cluster.Keys[2]);
        Messages.DagMessage Ask(params DagVertex[] ids)
        {
            var query = new Messages.Query();
            foreach (var v in ids) query.Ids.Add(Google.Protobuf.ByteString.CopyFrom(v.Id.ToBytes()));
            return new Messages.DagMessage { RequestId = 7, Query = query };
        }
        cluster.Inject(cluster.Peer(0), 1, Ask(vertex, other));
        cluster.Inject(cluster.Peer(2), 1, Ask(vertex, other));
        Assert.Equal([0b00, 0b00], answers.Select(a => a[0]));
        // The vertex arrives (the answer to the fetch the first query caused; no query in between): the same ids
        // now get it marked.
        var fetch = fetches.First(f => f.To == cluster.Peer(0));
        cluster.Inject(cluster.Peer(0), 1, new Messages.DagMessage
        {
            RequestId = fetch.RequestId,
            Vertices = new Messages.VertexBatch { Envelopes = { Google.Protobuf.ByteString.CopyFrom(vertex.Envelope) } },
        });
        Assert.Equal(VertexStatus.Processing, cluster.Engines[1].StatusOf(vertex.Id));
        cluster.Inject(cluster.Peer(0), 1, Ask(vertex, other));
        Assert.Equal(0b01, answers[2][0]);
        // The same ids in another order are another query.
        cluster.Inject(cluster.Peer(0), 1, Ask(other, vertex));
        Assert.Equal(0b10, answers[3][0]);
    }

    [Fact]
    public void Every_vote_marks_exactly_the_queried_vertices_held_and_strongly_preferred_by_the_voter()
    {
        // Answers are reused and brought up to date from earlier answers (same ids, or another list lining up with the
        // latest one); whatever was reused, every bit must be what the voter's state says when it answers. Contested
        // keys (three ways and two ways), an equivocation with a child on one side (a contested vertex with an
        // undecided child), and virtuous vertices proposed before and after: preferences flip, vertices arrive and
        // are decided while queries go round.
        var cluster = new EngineCluster(9, seed: 5);
        var queries = new Dictionary<(int, ulong), VertexId[]>();
        int checkedBits = 0, marked = 0;
        var mismatches = new List<string>();
        cluster.Intercept = (from, to, message) =>
        {
            if (message.KindCase == Messages.DagMessage.KindOneofCase.Query)
                queries.TryAdd((from, message.RequestId), [.. message.Query.Ids.Select(b => VertexId.FromBytes(b.Span))]);
            if (message.KindCase == Messages.DagMessage.KindOneofCase.Votes
                && queries.TryGetValue((cluster.IndexOf(to), message.RequestId), out var ids))
            {
                var engine = cluster.Engines[from];
                var bits = message.Votes.Preferred.Span;
                for (int i = 0; i < ids.Length; i++)
                {
                    bool bit = (bits[i / 8] & (1 << (i % 8))) != 0;
                    bool expected = StronglyPreferred(engine, ids[i]);
                    checkedBits++;
                    if (bit) marked++;
                    if (bit != expected) mismatches.Add($"node {from} at {cluster.Now:ss.fff}: {ids[i].ToShortString()} marked {bit}, expected {expected}");
                }
            }
            return message;
        };
        var liar = cluster.Keys[8];
        var key = ConflictKey.FromText("split");
        var a = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "a"u8, liar);
        var b = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "b"u8, liar);
        var child = VertexCodec.Seal(cluster.Options, [a.Id], 1, cluster.Now, [], "child of a"u8, liar);
        for (int i = 0; i < 8; i++) cluster.Inject(cluster.Peer(8), i, i % 2 == 0 ? Push(a, child) : Push(b));
        cluster.Propose(0, "one", "k1");
        cluster.Propose(1, "two", "k1");
        cluster.Propose(2, "three", "k1");
        cluster.Propose(3, "four", "k2");
        cluster.Propose(4, "five", "k2");
        cluster.Propose(5, "virtuous");
        cluster.Advance(TimeSpan.FromMilliseconds(150));
        cluster.Propose(6, "later");
        cluster.Propose(7, "later, too");
        cluster.RunUntil(() => cluster.Engines.All(e => e.ProcessingCount == 0), TimeSpan.FromSeconds(20));
        Assert.Empty(mismatches.Take(5));
        Assert.True(checkedBits > 10_000, $"{checkedBits} bits checked");
        Assert.InRange(marked, 1, checkedBits - 1);
    }

    // Strong preference from the engine's public state alone: accepted, or processing, the preference of each of its
    // keys, and every parent accepted or itself strongly preferred.
    private static bool StronglyPreferred(DagEngine engine, VertexId id)
    {
        if (engine.Find(id) is not { Status: { } status } info) return false;
        if (status != VertexStatus.Processing) return status == VertexStatus.Accepted;
        if (info.Vertex.ConflictKeys.Any(k => engine.Preference(k) != id)) return false;
        return info.Vertex.Parents.All(p => engine.StatusOf(p) == VertexStatus.Accepted || StronglyPreferred(engine, p));
    }

    [Fact]
    public void A_lone_node_polls_nobody_and_decides_nothing()
    {
        var cluster = new EngineCluster(1);
        var vertex = cluster.Propose(0, "alone");
        cluster.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(VertexStatus.Processing, cluster.Engines[0].StatusOf(vertex.Id));
        Assert.Equal(0, cluster.Engines[0].Counters.PollsStarted);
        Assert.Null(cluster.Engines[0].GetNextDeadline());
    }

    internal static Messages.DagMessage Push(params DagVertex[] vertices)
    {
        var query = new Messages.Query();
        foreach (var v in vertices)
        {
            query.Ids.Add(Google.Protobuf.ByteString.CopyFrom(v.Id.ToBytes()));
            query.Vertices.Add(Google.Protobuf.ByteString.CopyFrom(v.Envelope));
        }
        return new Messages.DagMessage { RequestId = 42, Query = query };
    }
}
