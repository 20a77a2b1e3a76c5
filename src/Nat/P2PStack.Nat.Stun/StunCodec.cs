using System.Buffers.Binary;
using System.IO.Hashing;

namespace P2PStack.Nat.Stun;

/// <summary>
/// Encodes and decodes STUN messages (RFC 8489 section 5 and 14): the 20-byte header with the magic cookie, then
/// type-length-value attributes padded to 4 bytes, optionally closed by FINGERPRINT (CRC-32 xor 0x5354554E).
/// Decoding checks every length against the datagram and refuses what RFC 8489 says to refuse, with
/// <see cref="StunFormatException"/>.
/// </summary>
public static class StunCodec
{
    /// <summary>The default bound on a message: STUN over UDP stays below the path MTU.</summary>
    public const int DefaultMaxMessageSize = 1500;

    /// <summary>The default bound on the number of attributes in one message.</summary>
    public const int DefaultMaxAttributes = 32;

    private const uint FingerprintXor = 0x5354554E;

    /// <summary>Whether the datagram starts like a STUN message (two zero bits, the magic cookie): how a socket that
    /// carries other traffic too tells STUN apart (RFC 8489 section 7).</summary>
    public static bool LooksLikeStun(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= StunMessage.HeaderLength && (datagram[0] & 0xC0) == 0
        && BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) == StunMessage.MagicCookie;

    /// <summary>Encodes the message; with <paramref name="fingerprint"/> a FINGERPRINT attribute ends it.</summary>
    public static byte[] Encode(StunMessage message, bool fingerprint = true)
    {
        int length = 0;
        foreach (var attribute in message.Attributes) length += 4 + Padded(attribute.Value.Length);
        if (fingerprint) length += 8;
        if (length > ushort.MaxValue) throw new ArgumentException($"STUN attributes take {length} bytes, over 65535", nameof(message));
        byte[] buffer = new byte[StunMessage.HeaderLength + length];
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt16BigEndian(span, EncodeType(message.Method, message.Class));
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], (ushort)length);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], StunMessage.MagicCookie);
        message.TransactionId.CopyTo(span[8..]);
        int offset = StunMessage.HeaderLength;
        foreach (var attribute in message.Attributes)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[offset..], attribute.Type);
            BinaryPrimitives.WriteUInt16BigEndian(span[(offset + 2)..], (ushort)attribute.Value.Length);
            attribute.Value.Span.CopyTo(span[(offset + 4)..]);
            offset += 4 + Padded(attribute.Value.Length); // padding stays zero
        }
        if (fingerprint)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[offset..], StunAttributeType.Fingerprint);
            BinaryPrimitives.WriteUInt16BigEndian(span[(offset + 2)..], 4);
            BinaryPrimitives.WriteUInt32BigEndian(span[(offset + 4)..], Crc32.HashToUInt32(span[..offset]) ^ FingerprintXor);
        }
        return buffer;
    }

    /// <summary>Decodes one datagram.</summary>
    /// <exception cref="StunFormatException">Not a well-formed STUN message, or over the limits.</exception>
    public static StunMessage Decode(ReadOnlySpan<byte> datagram, int maxMessageSize = DefaultMaxMessageSize,
        int maxAttributes = DefaultMaxAttributes)
    {
        if (datagram.Length > maxMessageSize)
            throw new StunFormatException($"STUN message of {datagram.Length} bytes is over the limit of {maxMessageSize}");
        if (datagram.Length < StunMessage.HeaderLength)
            throw new StunFormatException($"STUN message of {datagram.Length} bytes is shorter than the 20-byte header");
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(datagram);
        if ((type & 0xC000) != 0) throw new StunFormatException("the first two bits of a STUN message must be zero");
        int length = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        if (BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]) != StunMessage.MagicCookie)
            throw new StunFormatException("the STUN magic cookie is missing (an RFC 3489 message?)");
        if (length % 4 != 0) throw new StunFormatException($"STUN message length {length} is not a multiple of 4");
        if (StunMessage.HeaderLength + length != datagram.Length)
            throw new StunFormatException($"STUN header announces {length} attribute bytes, the datagram carries {datagram.Length - StunMessage.HeaderLength}");
        var (method, messageClass) = DecodeType(type);
        var transactionId = datagram.Slice(8, StunMessage.TransactionIdLength);

        var attributes = new List<StunAttribute>();
        int offset = StunMessage.HeaderLength;
        bool integritySeen = false;
        while (offset < datagram.Length)
        {
            if (datagram.Length - offset < 4) throw new StunFormatException("a STUN attribute header is truncated");
            ushort attributeType = BinaryPrimitives.ReadUInt16BigEndian(datagram[offset..]);
            int attributeLength = BinaryPrimitives.ReadUInt16BigEndian(datagram[(offset + 2)..]);
            int next = offset + 4 + Padded(attributeLength);
            if (next > datagram.Length)
                throw new StunFormatException($"STUN attribute 0x{attributeType:x4} announces {attributeLength} bytes past the end of the message");
            var value = datagram.Slice(offset + 4, attributeLength);
            if (attributeType == StunAttributeType.Fingerprint)
            {
                if (next != datagram.Length) throw new StunFormatException("FINGERPRINT is not the last STUN attribute");
                if (attributeLength != 4) throw new StunFormatException($"FINGERPRINT has {attributeLength} bytes, not 4");
                uint expected = Crc32.HashToUInt32(datagram[..offset]) ^ FingerprintXor;
                if (BinaryPrimitives.ReadUInt32BigEndian(value) != expected) throw new StunFormatException("STUN FINGERPRINT does not match");
            }
            // After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT may follow; others are ignored.
            else if (!integritySeen || attributeType == StunAttributeType.MessageIntegritySha256)
            {
                if (attributes.Count >= maxAttributes)
                    throw new StunFormatException($"STUN message carries more than {maxAttributes} attributes");
                attributes.Add(new StunAttribute(attributeType, value.ToArray()));
            }
            if (attributeType is StunAttributeType.MessageIntegrity or StunAttributeType.MessageIntegritySha256) integritySeen = true;
            offset = next;
        }
        return new StunMessage(method, messageClass, transactionId, attributes);
    }

    public static ushort EncodeType(ushort method, StunClass messageClass)
    {
        int c = (int)messageClass;
        return (ushort)((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7));
    }

    public static (ushort Method, StunClass Class) DecodeType(ushort type)
    {
        int method = (type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2);
        int c = ((type >> 4) & 1) | ((type >> 7) & 2);
        return ((ushort)method, (StunClass)c);
    }

    private static int Padded(int length) => (length + 3) & ~3;
}
