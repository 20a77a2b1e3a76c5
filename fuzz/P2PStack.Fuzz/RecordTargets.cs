using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using P2PStack.Consensus.Dag;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Fuzz;

/// <summary>
/// Decoders found without a target by a review of the list against the code: the DAG's wire messages in neural
/// bodies and the engine that takes them, the reliable sender's reading of acknowledgements, and the DHT's record
/// validators (/pk, /agent, /ipns with its CBOR data).
/// </summary>
internal static class RecordTargets
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static class Fixed
    {
        public static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Self = PeerId.FromPublicKey(Key.PublicKey);
        public static readonly PrivateKey OtherKey = Ed25519PrivateKey.FromSeed(Enumerable.Range(2, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Other = PeerId.FromPublicKey(OtherKey.PublicKey);
        public static readonly PrivateKey EngineKey = Ed25519PrivateKey.FromSeed(Enumerable.Range(3, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Stranger = PeerId.FromPublicKey(Ed25519PrivateKey.FromSeed(Enumerable.Range(4, 32).Select(i => (byte)i).ToArray()).PublicKey);
        public static readonly DagConsensusOptions Dag = new();
        public static readonly StaticMembership Members = new([new DagValidator(Self), new DagValidator(Other), new DagValidator(PeerId.FromPublicKey(EngineKey.PublicKey))]);
        public static readonly byte[] MessageId = Enumerable.Range(0x40, 16).Select(i => (byte)i).ToArray();
        public static readonly NamespacedValidator Records = new NamespacedValidator()
            .Add(PublicKeyValidator.Namespace, new PublicKeyValidator())
            .Add(NeuralProtocol.AgentNamespace, new AgentRecordValidator(new FixedClock(Now)))
            .Add(IpnsRecordValidator.Namespace, new IpnsRecordValidator(new FixedClock(Now)));
    }

    // ---- DAG wire messages and the engine ----

    private sealed class CountingOutbox : IDagOutbox
    {
        public List<DagMessage> Sent { get; } = [];

        public void Send(PeerId to, DagMessage message)
        {
            if (Sent.Count < 256) Sent.Add(message);
        }
    }

    private const int MaxDagRecords = 64;

    /// <summary>
    /// What a node does with DAG messages from the neural mesh: each record of the input is [flags][varint length][a
    /// ConsensusProposal or ConsensusVote body]; flags bit 0: a vote, bits 1-2: the sender (two members, a stranger),
    /// bit 3: via the swarm, bits 4-7: seconds to advance the clock (and tick) first. A body of this DAG goes through
    /// <see cref="DagWire.FromProposal"/> or <see cref="DagWire.FromVote"/>, the handler's swarm rule, then into a
    /// <see cref="DagEngine"/> (fixed key, random seed and start time, a static membership of three) as the node's loop
    /// feeds it. The engine must refuse what it cannot use (counted), never throw.
    /// </summary>
    public static void DagWireMessages(byte[] input) => RunDag(input, new CountingOutbox());

    private static void RunDag(byte[] input, CountingOutbox outbox)
    {
        var engine = new DagEngine(Fixed.Dag, Fixed.EngineKey, Fixed.Members, outbox, random: new Random(7), now: Now);
        var now = Now;
        var span = new ReadOnlySpan<byte>(input);
        for (int records = 0; records < MaxDagRecords && span.Length > 1; records++)
        {
            byte flags = span[0];
            span = span[1..];
            if (!Encoding.Varint.TryReadPrefix(span, out ulong length, out int prefix)) return;
            span = span[prefix..];
            if (length > (ulong)span.Length) return;
            var body = span[..(int)length];
            span = span[(int)length..];
            if (flags >> 4 is > 0 and var seconds)
            {
                now = now.AddSeconds(seconds);
                engine.Tick(now);
            }
            var from = ((flags >> 1) & 3) switch { 0 or 3 => Fixed.Self, 1 => Fixed.Other, _ => Fixed.Stranger };
            bool viaSwarm = (flags & 8) != 0;
            DagMessage message;
            try
            {
                if ((flags & 1) == 0)
                {
                    var proposal = ConsensusProposal.Parser.ParseFrom(body);
                    if (proposal.ProposalId != Fixed.Dag.ProtocolTag) continue;
                    message = DagWire.FromProposal(proposal);
                }
                else
                {
                    var vote = ConsensusVote.Parser.ParseFrom(body);
                    if (vote.ProposalId != Fixed.Dag.ProtocolTag) continue;
                    message = DagWire.FromVote(vote);
                }
            }
            catch (InvalidProtocolBufferException)
            {
                continue; // the neural mesh refuses a body that does not parse before any handler sees it
            }
            catch (DagFormatException)
            {
                continue; // DagHandlers: refused and counted
            }
            // DagConsensus.Deliver: the swarm carries announcements only, and only the swarm does.
            if (viaSwarm != (message.KindCase == DagMessage.KindOneofCase.Announce)) continue;
            if (message.KindCase == DagMessage.KindOneofCase.Announce) continue; // membership's, not the engine's
            engine.Receive(from, message, now);
        }
    }

    private static byte[] DagRecord(int flags, DagMessage message) =>
        Record(flags, DagWire.ToBody(message, Fixed.Dag.ProtocolTag).ToByteArray());

    private static byte[] Record(int flags, byte[] body) => [(byte)flags, .. Encoding.Varint.Encode((ulong)body.Length), .. body];

    public static IEnumerable<byte[]> DagWireSeeds()
    {
        var genesis = VertexCodec.Seal(Fixed.Dag, [], 0, Now, [], "genesis"u8, Fixed.Key);
        var child = VertexCodec.Seal(Fixed.Dag, [genesis.Id], 1, Now, [ConflictKey.FromBytes("coin-1"u8)], "spend"u8, Fixed.OtherKey);
        var rival = VertexCodec.Seal(Fixed.Dag, [genesis.Id], 1, Now, [ConflictKey.FromBytes("coin-1"u8)], "spend again"u8, Fixed.Key);
        var query = new DagMessage
        {
            RequestId = 11,
            Query = new Query { Ids = { ByteString.CopyFrom(child.Id.ToBytes()) }, Vertices = { ByteString.CopyFrom(genesis.Envelope), ByteString.CopyFrom(child.Envelope) } },
        };
        byte[] start =
        [
            .. DagRecord(2, new DagMessage { RequestId = 1, Vertices = new VertexBatch { Envelopes = { ByteString.CopyFrom(genesis.Envelope) } } }),
            .. DagRecord(0, query),
            .. DagRecord(2, new DagMessage { RequestId = 12, Query = new Query { Ids = { ByteString.CopyFrom(rival.Id.ToBytes()) }, Vertices = { ByteString.CopyFrom(rival.Envelope) } } }),
        ];
        yield return start;
        // The engine polls the members about what it received: answer its queries (ids as it chose them, with the same
        // random seed) with votes from both members, preferring every vertex asked about.
        var outbox = new CountingOutbox();
        RunDag(start, outbox);
        var answers = new List<byte>(start);
        foreach (var sent in outbox.Sent.Where(m => m.KindCase == DagMessage.KindOneofCase.Query))
        {
            int count = sent.Query.Ids.Count;
            byte[] bitmap = new byte[(count + 7) / 8];
            for (int i = 0; i < count; i++) bitmap[i / 8] |= (byte)(1 << (i % 8));
            foreach (int sender in new[] { 0, 2 })
                answers.AddRange(DagRecord(1 | sender, new DagMessage { RequestId = sent.RequestId, Votes = new Votes { Preferred = ByteString.CopyFrom(bitmap) } }));
        }
        answers.AddRange(DagRecord(0x12, new DagMessage { RequestId = 21, GetVertices = new GetVertices { Ids = { ByteString.CopyFrom(child.Id.ToBytes()) }, Ancestors = 2 } }));
        answers.AddRange(DagRecord(0, new DagMessage { RequestId = 22, GetFrontier = new GetFrontier { Offset = 0 } }));
        answers.AddRange(DagRecord(2, new DagMessage { RequestId = 23, Frontier = new Frontier { Ids = { ByteString.CopyFrom(child.Id.ToBytes()) }, Total = 1 } }));
        answers.AddRange(DagRecord(8 | 2, new DagMessage { Announce = new Announce { TtlSeconds = 60 } }));
        answers.AddRange(DagRecord(0xF4, new DagMessage { RequestId = 24, Query = new Query { Ids = { ByteString.CopyFrom(genesis.Id.ToBytes()) } } }));
        yield return [.. answers];
    }

    // ---- Reliable delivery: the sender's reading of the ack ----

    /// <summary>
    /// The reliable sender's reading of a receiver's answer (NeuralMesh.AttemptAsync): one length-prefixed
    /// <c>NeuralAck</c> of at most 1 KiB off the stream (<see cref="NeuralAcks.ReadAsync"/>), then what it means
    /// for the message the target sent (<see cref="NeuralAcks.Judge"/>, a fixed 16-byte id). Delivered must name that
    /// message; refused must name it or nothing.
    /// </summary>
    public static void ReliableAck(byte[] input)
    {
        var reader = PipeReader.Create(new ReadOnlySequence<byte>(input));
        var ack = NeuralAcks.ReadAsync(reader, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var (outcome, error) = NeuralAcks.Judge(ack, Fixed.MessageId, Fixed.Other);
        bool named = ack.Id.Span.SequenceEqual(Fixed.MessageId);
        if (outcome == DeliveryStatus.Delivered && (!named || error is not null))
            throw new InvalidOperationException("an ack for another message counted as delivered");
        if (outcome == DeliveryStatus.Refused && !named && !ack.Id.IsEmpty)
            throw new InvalidOperationException("an ack for another message counted as refused");
        if (outcome is null && error is null) throw new InvalidOperationException("a failed attempt without an error");
    }

    public static IEnumerable<byte[]> NeuralAckSeeds()
    {
        static byte[] Framed(Neural.Messages.NeuralAck ack) => [.. Encoding.Varint.Encode((ulong)ack.CalculateSize()), .. ack.ToByteArray()];
        var id = ByteString.CopyFrom(Fixed.MessageId);
        yield return Framed(new Neural.Messages.NeuralAck { Id = id, Status = Neural.Messages.NeuralAck.Types.Status.Delivered });
        yield return Framed(new Neural.Messages.NeuralAck { Id = id, Status = Neural.Messages.NeuralAck.Types.Status.Duplicate });
        yield return Framed(new Neural.Messages.NeuralAck { Id = id, Status = Neural.Messages.NeuralAck.Types.Status.Busy, Detail = "replay_cache_full" });
        yield return Framed(new Neural.Messages.NeuralAck { Status = Neural.Messages.NeuralAck.Types.Status.Refused, Detail = "malformed" });
        yield return Framed(new Neural.Messages.NeuralAck { Id = ByteString.CopyFrom(new byte[16]), Status = Neural.Messages.NeuralAck.Types.Status.Refused, Detail = "bad_signature" });
    }

    // ---- DHT records: /pk, /agent, /ipns ----

    /// <summary>
    /// A DHT record as a Kademlia node checks it on PUT_VALUE and in GET_VALUE answers: [key length][key][value]
    /// through the validators a synaptic-mesh node registers (/pk, /agent at a fixed clock, /ipns with its CBOR data at
    /// a fixed clock); a valid value is then ranked against the seed's valid record of its namespace with Select,
    /// whose answer must be an index of the list.
    /// </summary>
    public static void DhtRecord(byte[] input)
    {
        if (input.Length < 1) return;
        int keyLength = Math.Min(input[0], input.Length - 1);
        var key = input.AsSpan(1, keyLength);
        var value = input.AsSpan(1 + keyLength);
        Fixed.Records.Validate(key, value);
        byte[] keyBytes = key.ToArray();
        ReadOnlyMemory<byte>[] values = [value.ToArray(), .. DhtSeedValues().Where(s => s.Key.AsSpan().SequenceEqual(keyBytes)).Select(s => (ReadOnlyMemory<byte>)s.Value)];
        int best = Fixed.Records.Select(key, values);
        if (best < 0 || best >= values.Length) throw new InvalidOperationException($"Select chose {best} of {values.Length} values");
    }

    private static IEnumerable<(byte[] Key, byte[] Value)> DhtSeedValues()
    {
        yield return (PublicKeyValidator.KeyFor(Fixed.Self), Fixed.Key.PublicKey.ToProtobuf());
        ulong seq = (ulong)Now.AddSeconds(-5).ToUnixTimeMilliseconds() * 1_000_000UL;
        yield return ([.. "/agent/agent-001"u8], AgentRecords.Create("agent-001", seq, Fixed.Key));
    }

    public static IEnumerable<byte[]> DhtRecordSeeds()
    {
        foreach (var (key, value) in DhtSeedValues()) yield return [(byte)key.Length, .. key, .. value];
        // IPNS records made by js-ipns (the Kademlia tests' vectors), when the repository is at hand.
        if (IpnsVectors() is { } path)
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            foreach (var record in json.RootElement.GetProperty("records").EnumerateArray())
            {
                byte[] key = Convert.FromHexString(record.GetProperty("keyHex").GetString()!);
                byte[] value = Convert.FromHexString(record.GetProperty("recordHex").GetString()!);
                if (key.Length <= byte.MaxValue) yield return [(byte)key.Length, .. key, .. value];
            }
        }
    }

    private static string? IpnsVectors()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string path = Path.Combine(dir.FullName, "tests", "Discovery", "P2PStack.Protocols.Kademlia.Tests", "TestData", "ipns-records.json");
            if (File.Exists(path)) return path;
        }
        return null;
    }
}
