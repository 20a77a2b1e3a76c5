using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;
using P2PStack.Records;

namespace P2PStack.Neural;

/// <summary>A verified agent record: the agent <see cref="Name"/> lives on <see cref="Peer"/>, which signed it.</summary>
/// <param name="SealingKey">The peer's X-Wing sealing key from the record (empty when it publishes none).</param>
public sealed record AgentLocation(string Name, PeerId Peer, ulong Seq, ReadOnlyMemory<byte> SealingKey = default);

/// <summary>Agent records: signed envelopes (domain <see cref="NeuralProtocol.AgentRecordDomain"/>) stored at /agent/&lt;name&gt;.</summary>
public static class AgentRecords
{
    /// <summary>Largest encoded agent record accepted.</summary>
    public const int MaxRecordSize = 4096;

    /// <summary>A record mapping <paramref name="name"/> to the key's peer, sealed with the key.</summary>
    /// <param name="sealingKey">The peer's X-Wing public key for sealed messages, published with the record.</param>
    public static byte[] Create(string name, ulong seq, PrivateKey key, ReadOnlySpan<byte> sealingKey = default)
    {
        NeuralProtocol.ValidateName(name, "agent");
        ArgumentNullException.ThrowIfNull(key);
        var record = new AgentRecord { Name = name, Peer = ByteString.CopyFrom(PeerId.FromPublicKey(key.PublicKey).Bytes.Span), Seq = seq };
        if (!sealingKey.IsEmpty) record.SealingKey = ByteString.CopyFrom(sealingKey);
        return SignedEnvelope.Seal(NeuralProtocol.AgentRecordDomain, NeuralProtocol.AgentRecordPayloadType, record.ToByteArray(), key).ToBytes();
    }

    /// <summary>Opens and checks a record: valid envelope and signature, payload type, name, and signer equal to the peer.</summary>
    /// <exception cref="NeuralFormatException">Anything is wrong with it.</exception>
    public static AgentLocation Open(ReadOnlySpan<byte> value)
    {
        SignedEnvelope envelope;
        try
        {
            envelope = SignedEnvelope.Open(value, NeuralProtocol.AgentRecordDomain, MaxRecordSize);
        }
        catch (EnvelopeException e)
        {
            throw new NeuralFormatException($"agent record envelope is invalid: {e.Message}", e);
        }
        if (!envelope.PayloadType.Span.SequenceEqual(NeuralProtocol.AgentRecordPayloadType))
            throw new NeuralFormatException("envelope payload type is not an agent record");
        AgentRecord record;
        PeerId peer;
        try
        {
            record = AgentRecord.Parser.ParseFrom(envelope.Payload.Span);
            peer = PeerId.FromBytes(record.Peer.Span);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or P2PFormatException)
        {
            throw new NeuralFormatException($"agent record is malformed: {e.Message}", e);
        }
        if (!NeuralProtocol.IsValidName(record.Name)) throw new NeuralFormatException("agent record holds an invalid name");
        if (envelope.Signer != peer) throw new NeuralFormatException($"agent record for {peer} is signed by {envelope.Signer}");
        if (!record.SealingKey.IsEmpty && record.SealingKey.Length != P2PStack.Crypto.MLKem.XWingKem.PublicKeySize)
            throw new NeuralFormatException("agent record holds a sealing key that is not an X-Wing public key");
        return new AgentLocation(record.Name, peer, record.Seq, record.SealingKey.Memory);
    }
}

/// <summary>
/// The DHT's <c>/agent</c> namespace: the key is <c>/agent/&lt;name&gt;</c>, the value an agent record for that name
/// signed by the peer it names; the record with the highest seq wins. A seq is the publication time in Unix
/// nanoseconds, so one further in the future than <paramref name="maxClockSkew"/> is refused: otherwise a single record
/// with a huge seq would win every comparison and hold the name for ever.
/// </summary>
public sealed class AgentRecordValidator(TimeProvider? time = null, TimeSpan? maxClockSkew = null) : IRecordValidator
{
    /// <summary>Clock skew allowed when none is given (the neural default, <see cref="NeuralMeshOptions.MaxClockSkew"/>).</summary>
    public static readonly TimeSpan DefaultMaxClockSkew = TimeSpan.FromSeconds(30);

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TimeSpan _maxClockSkew = maxClockSkew ?? DefaultMaxClockSkew;

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        string name = NameOf(key);
        AgentLocation location;
        try
        {
            location = AgentRecords.Open(value);
        }
        catch (NeuralFormatException e)
        {
            throw new InvalidRecordException(e.Message);
        }
        if (location.Name != name) throw new InvalidRecordException($"record names agent '{location.Name}' but is stored under '{name}'");
        ulong latest = (ulong)(_time.GetUtcNow() + _maxClockSkew).ToUnixTimeMilliseconds() * 1_000_000UL;
        if (location.Seq > latest)
            throw new InvalidRecordException($"record seq {location.Seq} is more than {_maxClockSkew.TotalSeconds:0.#} s in the future");
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to select from", nameof(values));
        int best = -1;
        ulong bestSeq = 0;
        for (int i = 0; i < values.Count; i++)
        {
            ulong seq;
            try { seq = AgentRecords.Open(values[i].Span).Seq; }
            catch (NeuralFormatException) { continue; }
            if (best < 0 || seq > bestSeq)
            {
                best = i;
                bestSeq = seq;
            }
        }
        return Math.Max(best, 0);
    }

    private static string NameOf(ReadOnlySpan<byte> key)
    {
        var (ns, rest) = NamespacedValidator.SplitKey(key);
        if (ns != NeuralProtocol.AgentNamespace) throw new InvalidRecordException($"namespace '{ns}' is not '{NeuralProtocol.AgentNamespace}'");
        string name = System.Text.Encoding.ASCII.GetString(rest.Span);
        if (!NeuralProtocol.IsValidName(name) || rest.Length != name.Length) throw new InvalidRecordException("agent record key holds an invalid name");
        return name;
    }
}
