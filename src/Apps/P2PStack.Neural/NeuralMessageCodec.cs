using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Neural.Messages;
using P2PStack.Records;

namespace P2PStack.Neural;

/// <summary>A message whose envelope, signature, sender, structure and lifetime were checked.</summary>
public sealed class VerifiedMessage
{
    internal VerifiedMessage(NeuralMessage message, NeuralMessageTypeInfo typeInfo, IMessage body, NeuralDestination destination,
        PeerId source, DateTimeOffset createdAt, DateTimeOffset expiresAt, byte[] envelope, int hops)
    {
        Message = message;
        TypeInfo = typeInfo;
        Body = body;
        Destination = destination;
        Source = source;
        CreatedAt = createdAt;
        ExpiresAt = expiresAt;
        Envelope = envelope;
        Hops = hops;
        Id = NeuralMessageId.FromBytes(message.Id.Span);
    }

    public NeuralMessageId Id { get; }

    public NeuralMessage Message { get; }

    public NeuralMessageTypeInfo TypeInfo { get; }

    public IMessage Body { get; }

    public NeuralDestination Destination { get; }

    public PeerId Source { get; }

    public DateTimeOffset CreatedAt { get; }

    /// <summary>Creation time plus the TTL (capped by the receiver's maximum).</summary>
    public DateTimeOffset ExpiresAt { get; }

    /// <summary>The signed envelope as received; forwarded unchanged.</summary>
    public byte[] Envelope { get; }

    /// <summary>Hops taken before reaching this node.</summary>
    public int Hops { get; }

    /// <summary>The body arrived sealed end to end to this node and was opened here.</summary>
    public bool WasSealed { get; init; }
}

/// <summary>Outcome of <see cref="NeuralMessageCodec.Verify"/>: a message, or why it was dropped.</summary>
public readonly record struct VerifyResult(VerifiedMessage? Message, DropReason Reason, MessageType Type, string? Detail)
{
    public bool Ok => Message is not null;
}

/// <summary>Seals messages into signed envelopes and checks received ones (docs/specs/neural.md, "Receiving").</summary>
public static class NeuralMessageCodec
{
    /// <summary>The encoded signed envelope of <paramref name="message"/>, signed by <paramref name="key"/>.</summary>
    public static byte[] Seal(NeuralMessage message, PrivateKey key)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(key);
        return SignedEnvelope.Seal(NeuralProtocol.MessageDomain, NeuralProtocol.MessagePayloadType, message.ToByteArray(), key).ToBytes();
    }

    /// <summary>The frame carrying an envelope after <paramref name="hops"/> hops.</summary>
    public static byte[] EncodeFrame(byte[] envelope, int hops) =>
        new NeuralFrame { Envelope = UnsafeByteOperations.UnsafeWrap(envelope), Hops = (uint)hops }.ToByteArray();

    /// <summary>Decodes a frame (stream message or gossip data).</summary>
    /// <exception cref="NeuralFormatException">Not a valid frame.</exception>
    public static NeuralFrame DecodeFrame(ReadOnlySpan<byte> encoded)
    {
        try
        {
            var frame = NeuralFrame.Parser.ParseFrom(encoded);
            if (frame.Envelope.IsEmpty) throw new NeuralFormatException("frame carries no envelope");
            return frame;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new NeuralFormatException($"frame is not a valid protobuf: {e.Message}", e);
        }
    }

    /// <summary>
    /// Checks, in order: size, envelope signature (domain <see cref="NeuralProtocol.MessageDomain"/>), payload type,
    /// message structure, signer equals source peer, body size, creation time within the clock skew, TTL, hop limit.
    /// Replays are the caller's (stateful) check.
    /// </summary>
    public static VerifyResult Verify(ReadOnlySpan<byte> envelope, int hops, DateTimeOffset now, NeuralMeshOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (envelope.Length > options.MaxMessageSize)
            return Drop(DropReason.Oversized, MessageType.Unspecified, $"envelope of {envelope.Length} bytes is over {options.MaxMessageSize}");
        SignedEnvelope opened;
        try
        {
            opened = SignedEnvelope.Open(envelope, NeuralProtocol.MessageDomain, options.MaxMessageSize);
        }
        catch (EnvelopeException e)
        {
            return Drop(DropReason.BadSignature, MessageType.Unspecified, e.Message);
        }
        if (!opened.PayloadType.Span.SequenceEqual(NeuralProtocol.MessagePayloadType))
            return Drop(DropReason.Malformed, MessageType.Unspecified, "envelope payload type is not a neural message");

        NeuralMessage message;
        try
        {
            message = NeuralMessage.Parser.ParseFrom(opened.Payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            return Drop(DropReason.Malformed, MessageType.Unspecified, $"message is not a valid protobuf: {e.Message}");
        }
        var type = message.Type;
        if (message.Id.Length != NeuralProtocol.MessageIdLength)
            return Drop(DropReason.Malformed, type, $"message id is {message.Id.Length} bytes");
        if (type == MessageType.Unspecified || !Enum.IsDefined(type))
            return Drop(DropReason.Malformed, MessageType.Unspecified, $"unknown message type {(int)type}");
        var info = NeuralMessageTypes.Of(type);
        bool isSealed = message.BodyCase == NeuralMessage.BodyOneofCase.Sealed;
        IMessage? body = isSealed ? message.Sealed : NeuralMessageTypes.GetBody(message);
        if ((!isSealed && message.BodyCase != info.BodyCase) || body is null)
            return Drop(DropReason.Malformed, type, $"a {info.Name} message carries a {message.BodyCase} body");
        if (message.Priority > NeuralProtocol.MaxPriority)
            return Drop(DropReason.Malformed, type, $"priority {message.Priority} is over {NeuralProtocol.MaxPriority}");
        if (message.TtlSeconds == 0) return Drop(DropReason.Malformed, type, "TTL is zero");
        if (message.SourceAgent.Length > 0 && !NeuralProtocol.IsValidName(message.SourceAgent))
            return Drop(DropReason.Malformed, type, "source agent name is invalid");
        if (type == MessageType.Response && message.CorrelationId.Length != NeuralProtocol.MessageIdLength)
            return Drop(DropReason.Malformed, type, "a response must carry the 16-byte id of its command");

        PeerId source;
        NeuralDestination destination;
        try
        {
            source = PeerId.FromBytes(message.SourcePeer.Span);
            destination = NeuralDestination.FromProto(message.Destination);
        }
        catch (P2PFormatException e)
        {
            return Drop(DropReason.Malformed, type, e.Message);
        }
        if (info.SwarmFamily is null && destination.Kind == DestinationKind.Swarm)
            return Drop(DropReason.Malformed, type, $"{info.Name} messages cannot go to a swarm");
        if (opened.Signer != source)
            return Drop(DropReason.SenderMismatch, type, $"signed by {opened.Signer}, claims to come from {source}");

        // A sealed body's size is its plaintext's: the ciphertext less the tag.
        int bodySize = isSealed ? Math.Max(0, message.Sealed.Ciphertext.Length - 16) : body.CalculateSize();
        if (bodySize > options.MaxBodySize)
            return Drop(DropReason.Oversized, type, $"body of {bodySize} bytes is over {options.MaxBodySize}");

        DateTimeOffset createdAt;
        try
        {
            createdAt = DateTimeOffset.FromUnixTimeMilliseconds(checked((long)message.CreatedAtMs));
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or OverflowException)
        {
            return Drop(DropReason.Malformed, type, "creation time is out of range");
        }
        if (createdAt > now + options.MaxClockSkew)
            return Drop(DropReason.ClockSkew, type, $"created {(createdAt - now).TotalSeconds:0.#} s in the future");
        var ttl = TimeSpan.FromSeconds(Math.Min(message.TtlSeconds, options.MaxTtl.TotalSeconds));
        var expiresAt = createdAt + ttl;
        if (now >= expiresAt) return Drop(DropReason.Expired, type, $"expired {(now - expiresAt).TotalSeconds:0.#} s ago");
        if (hops > message.HopLimit) return Drop(DropReason.HopLimit, type, $"{hops} hops, limit {message.HopLimit}");

        return new VerifyResult(new VerifiedMessage(message, info, body, destination, source, createdAt, expiresAt, envelope.ToArray(), hops),
            default, type, null);
    }

    private static VerifyResult Drop(DropReason reason, MessageType type, string detail) => new(null, reason, type, detail);
}
