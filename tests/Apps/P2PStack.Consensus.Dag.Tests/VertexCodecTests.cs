using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Consensus.Dag.Tests;

public class VertexCodecTests
{
    private static readonly DateTimeOffset Now = EngineCluster.Start;
    private static readonly DagConsensusOptions Options = new();
    private static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(new byte[32]);

    private static VertexId SomeId(byte b) => VertexId.FromBytes(Enumerable.Repeat(b, 32).ToArray());

    [Fact]
    public void Seal_then_open_gives_the_same_vertex()
    {
        var vertex = VertexCodec.Seal(Options, [SomeId(2), SomeId(1)], 7, Now, [ConflictKey.FromText("b"), ConflictKey.FromText("a")], "hello"u8, Key);
        var opened = VertexCodec.Open(vertex.Envelope, Options, Now);
        Assert.Equal(vertex.Id, opened.Id);
        Assert.Equal(VertexId.Of(vertex.Envelope), opened.Id);
        Assert.Equal(PeerId.FromPublicKey(Key.PublicKey), opened.Author);
        Assert.Equal([SomeId(1), SomeId(2)], opened.Parents); // sorted
        Assert.Equal(["a", "b"], opened.ConflictKeys.Select(k => k.ToString()));
        Assert.Equal(7UL, opened.Height);
        Assert.Equal("hello"u8.ToArray(), opened.Payload.ToArray());
        Assert.Equal(Now, opened.Timestamp);
    }

    [Fact]
    public void Vertex_ids_print_and_parse_as_hex()
    {
        var id = SomeId(0xab);
        Assert.Equal(new string('a', 0) + string.Concat(Enumerable.Repeat("ab", 32)), id.ToString());
        Assert.Equal(id, VertexId.Parse(id.ToString().ToUpperInvariant()));
        Assert.False(VertexId.TryParse("abc", out _));
        Assert.False(VertexId.TryParse(new string('g', 64), out _));
    }

    [Fact]
    public void A_tampered_envelope_fails_the_signature()
    {
        var vertex = VertexCodec.Seal(Options, [], 0, Now, [], "payload"u8, Key);
        var tampered = (byte[])vertex.Envelope.Clone();
        int at = tampered.AsSpan().IndexOf("payload"u8);
        tampered[at] ^= 1;
        AssertRefused(DagRefusal.BadSignature, tampered);
    }

    [Fact]
    public void Oversized_vertices_and_fields_are_refused()
    {
        AssertRefused(DagRefusal.Oversized, new byte[Options.MaxVertexSize + 1]);
        var small = new DagConsensusOptions { MaxParents = 2, MaxConflictKeys = 1, MaxConflictKeyLength = 4, MaxPayloadSize = 8 };
        AssertRefused(DagRefusal.Oversized, Signed(new Vertex { Dag = "main", Height = 1, Parents = { Ids(1, 2, 3) } }), small);
        AssertRefused(DagRefusal.Oversized, Signed(new Vertex { Dag = "main", ConflictKeys = { Bytes("a"), Bytes("b") } }), small);
        AssertRefused(DagRefusal.Oversized, Signed(new Vertex { Dag = "main", ConflictKeys = { Bytes("abcde") } }), small);
        AssertRefused(DagRefusal.Oversized, Signed(new Vertex { Dag = "main", Payload = ByteString.CopyFrom(new byte[9]) }), small);
        Assert.Throws<ArgumentException>(() => VertexCodec.Seal(small, [], 0, Now, [], new byte[9], Key));
    }

    [Fact]
    public void Structural_rules_are_enforced()
    {
        AssertRefused(DagRefusal.WrongDag, Signed(new Vertex { Dag = "other" }));
        AssertRefused(DagRefusal.Malformed, Signed(new Vertex { Dag = "main", Height = 1, Parents = { Ids(2, 1) } }));
        AssertRefused(DagRefusal.Malformed, Signed(new Vertex { Dag = "main", Height = 1, Parents = { Ids(1, 1) } }));
        AssertRefused(DagRefusal.Malformed, Signed(new Vertex { Dag = "main", Height = 1, Parents = { ByteString.CopyFrom(new byte[31]) } }));
        AssertRefused(DagRefusal.Malformed, Signed(new Vertex { Dag = "main", ConflictKeys = { Bytes("b"), Bytes("a") } }));
        AssertRefused(DagRefusal.Malformed, Signed(new Vertex { Dag = "main", ConflictKeys = { ByteString.Empty } }));
        AssertRefused(DagRefusal.BadHeight, Signed(new Vertex { Dag = "main", Height = 0, Parents = { Ids(1) } }));
        AssertRefused(DagRefusal.BadHeight, Signed(new Vertex { Dag = "main", Height = 3 }));
        AssertRefused(DagRefusal.ClockSkew, Signed(new Vertex { Dag = "main", TimestampMs = (ulong)(Now + TimeSpan.FromMinutes(5)).ToUnixTimeMilliseconds() }));
        var wrongType = SignedEnvelope.Seal(VertexCodec.Domain, [0x01], new Vertex { Dag = "main" }.ToByteArray(), Key).ToBytes();
        AssertRefused(DagRefusal.Malformed, wrongType);
        var wrongDomain = SignedEnvelope.Seal("other-domain", VertexCodec.PayloadType, new Vertex { Dag = "main" }.ToByteArray(), Key).ToBytes();
        AssertRefused(DagRefusal.BadSignature, wrongDomain);
        var notProtobuf = SignedEnvelope.Seal(VertexCodec.Domain, VertexCodec.PayloadType, [0xff, 0xff, 0xff], Key).ToBytes();
        AssertRefused(DagRefusal.Malformed, notProtobuf);
    }

    [Fact]
    public void Random_and_mutated_input_only_raises_the_typed_exception()
    {
        var valid = VertexCodec.Seal(Options, [SomeId(1)], 1, Now, [ConflictKey.FromText("k")], "data"u8, Key).Envelope;
        Prop.ForAll<byte[]>(OnlyTyped).QuickCheckThrowOnFailure();
        var random = new Random(11);
        for (int i = 0; i < 500; i++)
        {
            var mutated = (byte[])valid.Clone();
            for (int e = random.Next(1, 4); e > 0; e--) mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
            Assert.True(OnlyTyped(mutated));
            Assert.True(OnlyTyped(valid.AsSpan(0, random.Next(valid.Length)).ToArray()));
        }
    }

    [Fact]
    public void An_equivocation_proof_verifies_from_the_two_envelopes()
    {
        var key = ConflictKey.FromText("coin-7");
        var a = VertexCodec.Seal(Options, [], 0, Now, [key], "to alice"u8, Key);
        var b = VertexCodec.Seal(Options, [], 0, Now, [key, ConflictKey.FromText("z")], "to bob"u8, Key);
        var proof = EquivocationProof.Verify(a.Envelope, b.Envelope, Options, Now);
        Assert.Equal(PeerId.FromPublicKey(Key.PublicKey), proof.Author);
        Assert.Equal(key, proof.Key);

        var other = VertexCodec.Seal(Options, [], 0, Now, [key], "x"u8, Ed25519PrivateKey.FromSeed(Enumerable.Repeat((byte)9, 32).ToArray()));
        Assert.Throws<DagFormatException>(() => EquivocationProof.Verify(a.Envelope, other.Envelope, Options, Now));
        var unrelated = VertexCodec.Seal(Options, [], 0, Now, [ConflictKey.FromText("q")], "y"u8, Key);
        Assert.Throws<DagFormatException>(() => EquivocationProof.Verify(a.Envelope, unrelated.Envelope, Options, Now));
        Assert.Throws<DagFormatException>(() => EquivocationProof.Verify(a.Envelope, a.Envelope, Options, Now));
    }

    [Fact]
    public void Dag_messages_ride_in_the_matching_neural_bodies()
    {
        var votes = new DagMessage { RequestId = 9, Votes = new Votes { Preferred = ByteString.CopyFrom(1) } };
        var vote = Assert.IsType<Neural.Messages.ConsensusVote>(DagWire.ToBody(votes, "dag:main"));
        Assert.Equal("dag:main", vote.ProposalId);
        Assert.Equal(9UL, vote.Round);
        Assert.Equal(votes, DagWire.FromVote(vote));
        var query = new DagMessage { RequestId = 4, Query = new Query { Ids = { Ids(1) } } };
        var proposal = Assert.IsType<Neural.Messages.ConsensusProposal>(DagWire.ToBody(query, "dag:main"));
        Assert.Equal(query, DagWire.FromProposal(proposal));

        Assert.Throws<DagFormatException>(() => DagWire.FromVote(new Neural.Messages.ConsensusVote { Round = 4, Value = query.ToByteString() }));
        Assert.Throws<DagFormatException>(() => DagWire.FromProposal(new Neural.Messages.ConsensusProposal { Round = 9, Value = votes.ToByteString() }));
        Assert.Throws<DagFormatException>(() => DagWire.FromProposal(new Neural.Messages.ConsensusProposal { Round = 5, Value = query.ToByteString() }));
        Assert.Throws<DagFormatException>(() => DagWire.FromProposal(new Neural.Messages.ConsensusProposal { Value = ByteString.CopyFrom(0xff, 0xff) }));
        Assert.Throws<DagFormatException>(() => DagWire.FromProposal(new Neural.Messages.ConsensusProposal()));
    }

    private static bool OnlyTyped(byte[] bytes)
    {
        try
        {
            VertexCodec.Open(bytes, Options, Now);
            return true;
        }
        catch (DagFormatException)
        {
            return true;
        }
    }

    private static void AssertRefused(DagRefusal reason, byte[] envelope, DagConsensusOptions? options = null)
    {
        var e = Assert.Throws<DagFormatException>(() => VertexCodec.Open(envelope, options ?? Options, Now));
        Assert.Equal(reason, e.Reason);
    }

    private static byte[] Signed(Vertex vertex) =>
        SignedEnvelope.Seal(VertexCodec.Domain, VertexCodec.PayloadType, vertex.ToByteArray(), Key).ToBytes();

    private static ByteString[] Ids(params byte[] fill) => [.. fill.Select(b => ByteString.CopyFrom(SomeId(b).ToBytes()))];

    private static ByteString Bytes(string text) => ByteString.CopyFromUtf8(text);
}
