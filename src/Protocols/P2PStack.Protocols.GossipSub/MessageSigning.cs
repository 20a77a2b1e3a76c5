using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// Message authoring and checking per the pubsub spec's signature policies. A signature covers
/// <c>"libp2p-pubsub:"</c> followed by the protobuf encoding of the message without its signature and key fields.
/// </summary>
public static class MessageSigning
{
    private static ReadOnlySpan<byte> SignaturePrefix => "libp2p-pubsub:"u8;

    /// <summary>Builds a StrictSign message: from, seqno (8 bytes big-endian), signature, and key when the peer id does
    /// not inline it.</summary>
    public static Message CreateSigned(string topic, ReadOnlySpan<byte> data, PrivateKey key, ulong sequenceNumber)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(key);
        var author = PeerId.FromPublicKey(key.PublicKey);
        var seqno = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(seqno, sequenceNumber);
        var message = new Message
        {
            From = ByteString.CopyFrom(author.Bytes.Span),
            Data = ByteString.CopyFrom(data),
            Seqno = ByteString.CopyFrom(seqno),
            Topic = topic,
        };
        message.Signature = ByteString.CopyFrom(key.Sign(SigningInput(message)));
        if (author.TryGetPublicKey() is null) message.Key = ByteString.CopyFrom(key.PublicKey.ToProtobuf());
        return message;
    }

    /// <summary>Builds a StrictNoSign message: only data and topic.</summary>
    public static Message CreateUnsigned(string topic, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(topic);
        return new Message { Data = ByteString.CopyFrom(data), Topic = topic };
    }

    /// <summary>The fields the policy requires or forbids; null when the message conforms.</summary>
    internal static RejectReason? CheckPolicy(Message message, SignaturePolicy policy)
    {
        if (policy == SignaturePolicy.StrictSign)
        {
            if (!message.HasSignature) return RejectReason.MissingSignature;
            if (!message.HasFrom || !message.HasSeqno || message.Seqno.Length != 8) return RejectReason.MalformedMessage;
            return null;
        }
        if (message.HasSignature) return RejectReason.UnexpectedSignature;
        if (message.HasFrom || message.HasSeqno || message.HasKey) return RejectReason.UnexpectedAuthInfo;
        return null;
    }

    /// <summary>Verifies a signed message; returns its author, or null when the author, key or signature is invalid
    /// (malformed or not matching).</summary>
    public static PeerId? Verify(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!message.HasFrom || !message.HasSignature) return null;
        try
        {
            var author = PeerId.FromBytes(message.From.Span);
            PublicKey? key;
            if (message.HasKey)
            {
                key = PublicKey.FromProtobuf(message.Key.Span);
                if (!author.Matches(key)) return null;
            }
            else
            {
                key = author.TryGetPublicKey();
            }
            if (key is null) return null;
            return key.Verify(SigningInput(message), message.Signature.Span) ? author : null;
        }
        // Bad input ends here as a typed decode error: a malformed From (PeerIdException) or Key (KeyFormatException).
        // A malformed signature is not an exception (PublicKey.Verify answers false). Anything else is our own bug and
        // must surface, not read as "bad signature".
        catch (P2PFormatException)
        {
            return null;
        }
    }

    private static byte[] SigningInput(Message message)
    {
        var unsigned = message.Clone();
        unsigned.ClearSignature();
        unsigned.ClearKey();
        int size = unsigned.CalculateSize();
        var buffer = new byte[SignaturePrefix.Length + size];
        SignaturePrefix.CopyTo(buffer);
        unsigned.WriteTo(buffer.AsSpan(SignaturePrefix.Length));
        return buffer;
    }

    /// <summary>go's and js's default id under StrictSign: the from bytes followed by the seqno bytes.</summary>
    public static byte[] FromAndSeqnoId(Message message)
    {
        var id = new byte[message.From.Length + message.Seqno.Length];
        message.From.Span.CopyTo(id);
        message.Seqno.Span.CopyTo(id.AsSpan(message.From.Length));
        return id;
    }

    /// <summary>js's default id under StrictNoSign: SHA-256 of the data.</summary>
    public static byte[] DataHashId(Message message) => SHA256.HashData(message.Data.Span);
}
