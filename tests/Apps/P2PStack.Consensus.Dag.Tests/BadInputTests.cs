using Google.Protobuf;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;

namespace P2PStack.Consensus.Dag.Tests;

/// <summary>Hostile input reaching the engine: refused, counted, and the engine carries on deciding.</summary>
public class BadInputTests
{
    private static readonly PrivateKey Outsider = Ed25519PrivateKey.FromSeed(Enumerable.Repeat((byte)200, 32).ToArray());
    private static PeerId OutsiderPeer => PeerId.FromPublicKey(Outsider.PublicKey);

    private static DagMessage Votes(ulong requestId, params byte[] bitmap) =>
        new() { RequestId = requestId, Votes = new Votes { Preferred = ByteString.CopyFrom(bitmap) } };

    /// <summary>Captures node 0's queries so a test can answer them itself.</summary>
    private static List<(PeerId To, DagMessage Query)> CaptureQueries(EngineCluster cluster)
    {
        var queries = new List<(PeerId, DagMessage)>();
        cluster.Intercept = (from, to, message) =>
        {
            if (from == 0 && message.KindCase == DagMessage.KindOneofCase.Query) queries.Add((to, message));
            return message;
        };
        return queries;
    }

    [Fact]
    public void Votes_from_non_members_and_votes_nobody_asked_for_are_refused()
    {
        // 45 members: the 20 slots of a poll go to 20 distinct peers, so there are members that were not asked.
        var cluster = new EngineCluster(45);
        var queries = CaptureQueries(cluster);
        cluster.Propose(0, "x");
        var (asked, query) = queries[0];
        var engine = cluster.Engines[0];

        engine.Receive(OutsiderPeer, Votes(query.RequestId, 1), cluster.Now);
        Assert.Equal(1, engine.Counters.Refused(DagRefusal.NonMember));

        // A member that was not asked, answering someone else's poll (what a forged vote would have to do).
        var notAsked = Enumerable.Range(1, 44).Select(cluster.Peer).First(p => queries.All(q => q.To != p || q.Query.RequestId != query.RequestId));
        engine.Receive(notAsked, Votes(query.RequestId, 1), cluster.Now);
        engine.Receive(asked, Votes(999_999, 1), cluster.Now);
        Assert.Equal(2, engine.Counters.Refused(DagRefusal.Unsolicited));

        // The right peer with a bitmap of the wrong size, then again (already answered).
        engine.Receive(asked, Votes(query.RequestId, 1, 0), cluster.Now);
        Assert.Equal(1, engine.Counters.Refused(DagRefusal.Malformed));
        engine.Receive(asked, Votes(query.RequestId, 1), cluster.Now);
        Assert.Equal(3, engine.Counters.Refused(DagRefusal.Unsolicited));
        Assert.Equal(0, engine.Counters.VotesReceived);

        // Padding bits set beyond the ids are malformed too.
        var (asked2, query2) = queries.First(q => q.Query.RequestId == query.RequestId && q.To != asked);
        engine.Receive(asked2, Votes(query2.RequestId, 0b10), cluster.Now);
        Assert.Equal(2, engine.Counters.Refused(DagRefusal.Malformed));
    }

    [Fact]
    public void Queries_and_requests_from_non_members_get_no_answer()
    {
        var cluster = new EngineCluster(3);
        var sent = new List<DagMessage>();
        cluster.Intercept = (_, _, m) =>
        {
            sent.Add(m);
            return m;
        };
        var engine = cluster.Engines[1];
        var vertex = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], "x"u8, Outsider);
        engine.Receive(OutsiderPeer, EngineTests.Push(vertex), cluster.Now);
        engine.Receive(OutsiderPeer, new DagMessage { RequestId = 1, GetVertices = new GetVertices { Ids = { ByteString.CopyFrom(vertex.Id.ToBytes()) } } }, cluster.Now);
        engine.Receive(OutsiderPeer, new DagMessage { RequestId = 2, GetFrontier = new GetFrontier() }, cluster.Now);
        Assert.Equal(3, engine.Counters.Refused(DagRefusal.NonMember));
        Assert.Null(engine.StatusOf(vertex.Id));
        Assert.Empty(sent);
    }

    [Fact]
    public void A_vote_preferring_both_sides_of_a_conflict_is_refused_and_the_poll_goes_on()
    {
        var cluster = new EngineCluster(6);
        var key = ConflictKey.FromText("k");
        var a = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "a"u8, cluster.Keys[5]);
        var b = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [key], "b"u8, cluster.Keys[5]);
        var queries = CaptureQueries(cluster);
        cluster.Inject(cluster.Peer(5), 0, EngineTests.Push(a, b));
        cluster.Engines[0].Tick(cluster.Now);
        var (asked, query) = queries.First(q => q.Query.Query.Ids.Count == 2);
        var engine = cluster.Engines[0];
        engine.Receive(asked, Votes(query.RequestId, 0b11), cluster.Now);
        Assert.Equal(1, engine.Counters.Refused(DagRefusal.ContradictoryVote));
        cluster.Intercept = null;
        Assert.True(cluster.RunUntil(() => cluster.Engines.Take(5).All(e => e.AcceptedFor(key) is not null)));
        Assert.True(engine.Counters.Refused(DagRefusal.ContradictoryVote) >= 1);
    }

    [Fact]
    public void Oversized_queries_batches_and_vertices_are_refused()
    {
        var cluster = new EngineCluster(3, o =>
        {
            o.MaxQueryIds = 4;
            o.MaxPushedVertices = 1;
            o.MaxFetchIds = 2;
        });
        var engine = cluster.Engines[1];
        var member = cluster.Peer(2);
        var tooMany = new Query();
        for (int i = 0; i < 5; i++) tooMany.Ids.Add(ByteString.CopyFrom(new byte[32]));
        engine.Receive(member, new DagMessage { RequestId = 1, Query = tooMany }, cluster.Now);
        var v1 = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], "1"u8, cluster.Keys[2]);
        var v2 = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], "2"u8, cluster.Keys[2]);
        engine.Receive(member, EngineTests.Push(v1, v2), cluster.Now);
        var get = new GetVertices();
        for (int i = 0; i < 3; i++) get.Ids.Add(ByteString.CopyFrom(new byte[32]));
        engine.Receive(member, new DagMessage { RequestId = 2, GetVertices = get }, cluster.Now);
        Assert.Equal(3, engine.Counters.Refused(DagRefusal.Oversized));
        var huge = new Query { Vertices = { ByteString.CopyFrom(new byte[cluster.Options.MaxVertexSize + 1]) } };
        engine.Receive(member, new DagMessage { RequestId = 3, Query = huge }, cluster.Now);
        Assert.Equal(4, engine.Counters.Refused(DagRefusal.Oversized));
        engine.Receive(member, new DagMessage { RequestId = 4, Query = new Query { Ids = { ByteString.CopyFrom(new byte[31]) } } }, cluster.Now);
        Assert.Equal(1, engine.Counters.Refused(DagRefusal.Malformed));
        Assert.Equal(0, engine.VertexCount);
    }

    [Fact]
    public void A_vertex_whose_height_does_not_follow_from_its_parents_is_refused()
    {
        // Ids are hashes of the bytes that list the parents, so a cycle cannot be built; the height rule (1 + the
        // greatest parent height) is the structural guard that would refuse one regardless.
        var cluster = new EngineCluster(3);
        var engine = cluster.Engines[1];
        var member = cluster.Peer(2);
        var parent = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], "p"u8, cluster.Keys[2]);
        var liar = VertexCodec.Seal(cluster.Options, [parent.Id], 5, cluster.Now, [], "claims 5"u8, cluster.Keys[2]);
        engine.Receive(member, EngineTests.Push(parent, liar), cluster.Now);
        Assert.Equal(1, engine.Counters.Refused(DagRefusal.BadHeight));
        Assert.Equal(VertexStatus.Processing, engine.StatusOf(parent.Id));
        Assert.Null(engine.StatusOf(liar.Id));
    }

    [Fact]
    public void Unsolicited_batches_and_frontiers_are_refused()
    {
        var cluster = new EngineCluster(3);
        var engine = cluster.Engines[1];
        var vertex = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], "v"u8, cluster.Keys[2]);
        engine.Receive(cluster.Peer(2), new DagMessage { RequestId = 77, Vertices = new VertexBatch { Envelopes = { ByteString.CopyFrom(vertex.Envelope) } } }, cluster.Now);
        engine.Receive(cluster.Peer(2), new DagMessage { RequestId = 78, Frontier = new Frontier { Ids = { ByteString.CopyFrom(vertex.Id.ToBytes()) } } }, cluster.Now);
        Assert.Equal(2, engine.Counters.Refused(DagRefusal.Unsolicited));
        Assert.Null(engine.StatusOf(vertex.Id));
    }

    [Fact]
    public void A_flood_of_vertices_with_unknown_parents_is_bounded_counted_and_dropped_while_consensus_goes_on()
    {
        var cluster = new EngineCluster(5, o =>
        {
            o.MaxPendingPerPeer = 100;
            o.MaxPendingVertices = 150;
            o.MaxOutstandingFetches = 20;
            o.PendingTimeout = TimeSpan.FromSeconds(3);
        });
        var attacker = cluster.Peer(4);
        var random = new Random(9);
        var engine = cluster.Engines[0];
        for (int i = 0; i < 1000; i++)
        {
            var unknownParent = new byte[32];
            random.NextBytes(unknownParent);
            var junk = VertexCodec.Seal(cluster.Options, [VertexId.FromBytes(unknownParent)], 1, cluster.Now, [], BitConverter.GetBytes(i), cluster.Keys[4]);
            engine.Receive(attacker, EngineTests.Push(junk), cluster.Now);
        }
        Assert.Equal(100, engine.PendingCount);
        Assert.Equal(900, engine.Counters.Refused(DagRefusal.PendingFull));
        Assert.True(engine.Counters.FetchRequests <= 20 + 1);

        // Meanwhile an honest proposal is decided, and the junk ages out.
        var honest = cluster.Propose(1, "honest");
        Assert.True(cluster.RunUntil(() => cluster.Engines.All(e => e.StatusOf(honest.Id) == VertexStatus.Accepted)));
        cluster.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(0, engine.PendingCount);
        Assert.Equal(100, engine.Counters.Refused(DagRefusal.UnknownParents));
    }

    [Fact]
    public void One_author_cannot_hold_more_undecided_vertices_than_its_share()
    {
        var cluster = new EngineCluster(3, o => o.MaxProcessingPerAuthor = 10);
        var engine = cluster.Engines[0];
        for (int i = 0; i < 50; i++)
        {
            var spam = VertexCodec.Seal(cluster.Options, [], 0, cluster.Now, [], BitConverter.GetBytes(i), cluster.Keys[2]);
            engine.Receive(cluster.Peer(2), EngineTests.Push(spam), cluster.Now);
        }
        Assert.Equal(10, engine.ProcessingCount);
        Assert.Equal(40, engine.Counters.Refused(DagRefusal.ProcessingFull));
        // Others are not affected.
        var honest = cluster.Propose(1, "honest");
        Assert.True(cluster.RunUntil(() => cluster.Engines.All(e => e.StatusOf(honest.Id) == VertexStatus.Accepted)));
    }

    [Fact]
    public void Garbage_messages_never_throw()
    {
        var cluster = new EngineCluster(3);
        var engine = cluster.Engines[0];
        var random = new Random(4);
        for (int i = 0; i < 2000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            DagMessage message;
            try
            {
                message = DagMessage.Parser.ParseFrom(bytes);
            }
            catch (InvalidProtocolBufferException)
            {
                continue;
            }
            engine.Receive(cluster.Peer(random.Next(1, 3)), message, cluster.Now);
        }
        Assert.True(engine.Counters.RefusedTotal > 0);
    }
}
