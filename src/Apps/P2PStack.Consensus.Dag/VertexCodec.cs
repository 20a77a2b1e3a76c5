using Google.Protobuf;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Consensus.Dag;

/// <summary>Seals vertices into signed envelopes and checks received ones (docs/specs/dag.md, "Vertices").</summary>
public static class VertexCodec
{
    /// <summary>Signing domain of vertex envelopes.</summary>
    public const string Domain = "synaptic-dag-vertex";

    /// <summary>Envelope payload type: the unsigned varint of the private-use multicodec 0x300003.</summary>
    public static ReadOnlySpan<byte> PayloadType => [0x83, 0x80, 0xC0, 0x01];

    /// <summary>Builds and signs a vertex. The caller supplies a height consistent with the parents.</summary>
    /// <exception cref="ArgumentException">The vertex breaks a limit of <paramref name="options"/>.</exception>
    public static DagVertex Seal(DagConsensusOptions options, IEnumerable<VertexId> parents, ulong height, DateTimeOffset timestamp,
        IEnumerable<ConflictKey> conflictKeys, ReadOnlySpan<byte> payload, PrivateKey key)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(key);
        var sortedParents = parents.Distinct().Order().ToArray();
        var sortedKeys = conflictKeys.Distinct().Order().ToArray();
        if (sortedParents.Length > options.MaxParents) throw new ArgumentException($"{sortedParents.Length} parents, the limit is {options.MaxParents}");
        if (sortedKeys.Length > options.MaxConflictKeys) throw new ArgumentException($"{sortedKeys.Length} conflict keys, the limit is {options.MaxConflictKeys}");
        foreach (var k in sortedKeys)
            if (k.Length > options.MaxConflictKeyLength) throw new ArgumentException($"conflict key '{k}' is over {options.MaxConflictKeyLength} bytes");
        if (payload.Length > options.MaxPayloadSize) throw new ArgumentException($"payload of {payload.Length} bytes, the limit is {options.MaxPayloadSize}");
        var vertex = new Vertex
        {
            Dag = options.Name,
            Height = height,
            TimestampMs = (ulong)Math.Max(0, timestamp.ToUnixTimeMilliseconds()),
            Payload = ByteString.CopyFrom(payload),
        };
        foreach (var parent in sortedParents) vertex.Parents.Add(parent.ToByteString());
        foreach (var k in sortedKeys) vertex.ConflictKeys.Add(k.ToByteString());
        byte[] envelope = SignedEnvelope.Seal(Domain, PayloadType, vertex.ToByteArray(), key).ToBytes();
        if (envelope.Length > options.MaxVertexSize) throw new ArgumentException($"signed vertex of {envelope.Length} bytes, the limit is {options.MaxVertexSize}");
        return new DagVertex(VertexId.Of(envelope), PeerId.FromPublicKey(key.PublicKey), sortedParents, height,
            DateTimeOffset.FromUnixTimeMilliseconds((long)vertex.TimestampMs), sortedKeys, vertex.Payload.Memory, envelope);
    }

    /// <summary>
    /// Checks, in order: size, envelope and signature, payload type, structure (DAG name, parent and key ordering and
    /// limits, payload size), timestamp within the clock skew. Parents and height are the graph's checks.
    /// </summary>
    /// <exception cref="DagFormatException">Refused; <see cref="DagFormatException.Reason"/> says why.</exception>
    public static DagVertex Open(ReadOnlySpan<byte> envelope, DagConsensusOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (envelope.Length > options.MaxVertexSize)
            throw new DagFormatException(DagRefusal.Oversized, $"vertex of {envelope.Length} bytes is over {options.MaxVertexSize}");
        SignedEnvelope opened;
        try
        {
            opened = SignedEnvelope.Open(envelope, Domain, options.MaxVertexSize);
        }
        catch (EnvelopeException e)
        {
            throw new DagFormatException(DagRefusal.BadSignature, $"vertex envelope refused: {e.Message}", e);
        }
        if (!opened.PayloadType.Span.SequenceEqual(PayloadType)) throw new DagFormatException(DagRefusal.Malformed, "envelope payload type is not a DAG vertex");
        Vertex vertex;
        try
        {
            vertex = Vertex.Parser.ParseFrom(opened.Payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new DagFormatException(DagRefusal.Malformed, $"vertex is not a valid protobuf: {e.Message}", e);
        }
        if (vertex.Dag != options.Name) throw new DagFormatException(DagRefusal.WrongDag, $"vertex of DAG '{vertex.Dag}', this is '{options.Name}'");
        if (vertex.Parents.Count > options.MaxParents)
            throw new DagFormatException(DagRefusal.Oversized, $"{vertex.Parents.Count} parents, the limit is {options.MaxParents}");
        var parents = new VertexId[vertex.Parents.Count];
        for (int i = 0; i < parents.Length; i++)
        {
            parents[i] = VertexId.FromBytes(vertex.Parents[i].Span);
            if (i > 0 && parents[i] <= parents[i - 1]) throw new DagFormatException(DagRefusal.Malformed, "parents are not strictly ascending");
        }
        if ((parents.Length == 0) != (vertex.Height == 0))
            throw new DagFormatException(DagRefusal.BadHeight, $"height {vertex.Height} with {parents.Length} parents");
        if (vertex.ConflictKeys.Count > options.MaxConflictKeys)
            throw new DagFormatException(DagRefusal.Oversized, $"{vertex.ConflictKeys.Count} conflict keys, the limit is {options.MaxConflictKeys}");
        var keys = new ConflictKey[vertex.ConflictKeys.Count];
        for (int i = 0; i < keys.Length; i++)
        {
            var bytes = vertex.ConflictKeys[i].Span;
            if (bytes.IsEmpty) throw new DagFormatException(DagRefusal.Malformed, "empty conflict key");
            if (bytes.Length > options.MaxConflictKeyLength)
                throw new DagFormatException(DagRefusal.Oversized, $"conflict key of {bytes.Length} bytes, the limit is {options.MaxConflictKeyLength}");
            keys[i] = ConflictKey.FromBytes(bytes);
            if (i > 0 && keys[i].CompareTo(keys[i - 1]) <= 0) throw new DagFormatException(DagRefusal.Malformed, "conflict keys are not strictly ascending");
        }
        if (vertex.Payload.Length > options.MaxPayloadSize)
            throw new DagFormatException(DagRefusal.Oversized, $"payload of {vertex.Payload.Length} bytes, the limit is {options.MaxPayloadSize}");
        if (vertex.TimestampMs > (ulong)DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
            throw new DagFormatException(DagRefusal.Malformed, "timestamp out of range");
        var timestamp = DateTimeOffset.FromUnixTimeMilliseconds((long)vertex.TimestampMs);
        if (timestamp > now + options.MaxClockSkew)
            throw new DagFormatException(DagRefusal.ClockSkew, $"vertex timestamped {(timestamp - now).TotalSeconds:0.#} s in the future");
        byte[] bytesCopy = envelope.ToArray();
        return new DagVertex(VertexId.Of(bytesCopy), opened.Signer, parents, vertex.Height, timestamp, keys, vertex.Payload.Memory, bytesCopy);
    }

    /// <summary>Reads a vertex this node stored after checking it (no signature check: the store is trusted).</summary>
    /// <exception cref="DagFormatException">The stored bytes do not decode.</exception>
    internal static DagVertex OpenTrusted(byte[] envelope, string dag)
    {
        try
        {
            var message = Records.Pb.Envelope.Parser.ParseFrom(envelope);
            var vertex = Vertex.Parser.ParseFrom(message.Payload);
            var publicKey = PublicKey.FromProtobuf(message.PublicKey.ToByteArray());
            if (vertex.Dag != dag) throw new DagFormatException(DagRefusal.WrongDag, $"stored vertex of DAG '{vertex.Dag}'");
            return new DagVertex(VertexId.Of(envelope), PeerId.FromPublicKey(publicKey), [.. vertex.Parents.Select(p => VertexId.FromBytes(p.Span))],
                vertex.Height, DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Min(vertex.TimestampMs, long.MaxValue / 2)),
                [.. vertex.ConflictKeys.Select(k => ConflictKey.FromBytes(k.Span))], vertex.Payload.Memory, envelope);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or P2PFormatException or ArgumentException)
        {
            throw new DagFormatException(DagRefusal.Malformed, $"stored vertex does not decode: {e.Message}", e);
        }
    }
}
