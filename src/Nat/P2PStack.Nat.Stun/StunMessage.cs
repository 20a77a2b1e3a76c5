using System.Net;

namespace P2PStack.Nat.Stun;

/// <summary>STUN message classes (RFC 8489 section 5).</summary>
public enum StunClass
{
    Request = 0,
    Indication = 1,
    SuccessResponse = 2,
    ErrorResponse = 3,
}

/// <summary>STUN attribute types this module reads or writes (RFC 8489 section 18.3, RFC 5780 section 7).</summary>
public static class StunAttributeType
{
    public const ushort MappedAddress = 0x0001;
    public const ushort ChangeRequest = 0x0003;
    public const ushort Username = 0x0006;
    public const ushort MessageIntegrity = 0x0008;
    public const ushort ErrorCode = 0x0009;
    public const ushort UnknownAttributes = 0x000A;
    public const ushort Realm = 0x0014;
    public const ushort Nonce = 0x0015;
    public const ushort MessageIntegritySha256 = 0x001C;
    public const ushort XorMappedAddress = 0x0020;
    public const ushort Padding = 0x0026;
    public const ushort ResponsePort = 0x0027;
    public const ushort Software = 0x8022;
    public const ushort AlternateServer = 0x8023;
    public const ushort Fingerprint = 0x8028;
    public const ushort ResponseOrigin = 0x802B;
    public const ushort OtherAddress = 0x802C;

    /// <summary>Types below 0x8000 are comprehension-required: a message carrying an unknown one is refused.</summary>
    public static bool IsComprehensionRequired(ushort type) => type < 0x8000;
}

/// <summary>Flags of the CHANGE-REQUEST attribute (RFC 5780 section 7.2).</summary>
[Flags]
public enum StunChangeRequest
{
    None = 0,
    ChangePort = 0x02,
    ChangeIp = 0x04,
}

/// <summary>One attribute as it travels: its type and its value (without padding).</summary>
public readonly record struct StunAttribute(ushort Type, ReadOnlyMemory<byte> Value);

/// <summary>
/// A STUN message (RFC 8489): method, class, the 96-bit transaction id and attributes in wire order. Built by
/// <see cref="StunCodec.Decode"/> or by the client and server; the typed accessors decode the attributes they name.
/// </summary>
public sealed class StunMessage
{
    /// <summary>The Binding method, the only one this module speaks.</summary>
    public const ushort BindingMethod = 0x001;

    public const uint MagicCookie = 0x2112A442;

    public const int HeaderLength = 20;

    public const int TransactionIdLength = 12;

    private readonly byte[] _transactionId;

    public StunMessage(ushort method, StunClass messageClass, ReadOnlySpan<byte> transactionId, IReadOnlyList<StunAttribute> attributes)
    {
        if (method > 0xFFF) throw new ArgumentOutOfRangeException(nameof(method), "a STUN method has 12 bits");
        if (transactionId.Length != TransactionIdLength)
            throw new ArgumentException($"a transaction id has {TransactionIdLength} bytes", nameof(transactionId));
        Method = method;
        Class = messageClass;
        _transactionId = transactionId.ToArray();
        Attributes = attributes;
    }

    public ushort Method { get; }

    public StunClass Class { get; }

    public ReadOnlySpan<byte> TransactionId => _transactionId;

    public IReadOnlyList<StunAttribute> Attributes { get; }

    /// <summary>The first attribute of the type, if any.</summary>
    public ReadOnlyMemory<byte>? Find(ushort type)
    {
        foreach (var attribute in Attributes)
        {
            if (attribute.Type == type) return attribute.Value;
        }
        return null;
    }

    /// <summary>XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS when a (pre-RFC 5389 style) server sent only that.</summary>
    /// <exception cref="StunFormatException">The attribute is malformed.</exception>
    public IPEndPoint? MappedAddress =>
        Find(StunAttributeType.XorMappedAddress) is { } xor ? StunAddress.DecodeXor(xor.Span, TransactionId)
        : Find(StunAttributeType.MappedAddress) is { } plain ? StunAddress.Decode(plain.Span) : null;

    /// <summary>RESPONSE-ORIGIN (RFC 5780): the address the response was sent from.</summary>
    public IPEndPoint? ResponseOrigin => Find(StunAttributeType.ResponseOrigin) is { } v ? StunAddress.Decode(v.Span) : null;

    /// <summary>OTHER-ADDRESS (RFC 5780): the server's alternate address and port, for behaviour discovery.</summary>
    public IPEndPoint? OtherAddress => Find(StunAttributeType.OtherAddress) is { } v ? StunAddress.Decode(v.Span) : null;

    /// <summary>SOFTWARE as text, if present.</summary>
    public string? Software => Find(StunAttributeType.Software) is { } v ? System.Text.Encoding.UTF8.GetString(v.Span) : null;

    /// <summary>ERROR-CODE as (code, reason), if present.</summary>
    /// <exception cref="StunFormatException">The attribute is malformed.</exception>
    public (int Code, string Reason)? Error
    {
        get
        {
            if (Find(StunAttributeType.ErrorCode) is not { } value) return null;
            var span = value.Span;
            if (span.Length < 4) throw new StunFormatException($"ERROR-CODE has {span.Length} bytes, fewer than 4");
            int errorClass = span[2] & 0x07;
            int number = span[3];
            if (errorClass is < 3 or > 6 || number > 99)
                throw new StunFormatException($"ERROR-CODE class {errorClass} number {number} is outside 300..699");
            return (errorClass * 100 + number, System.Text.Encoding.UTF8.GetString(span[4..]));
        }
    }

    /// <summary>CHANGE-REQUEST flags of a request (RFC 5780), None when absent.</summary>
    public StunChangeRequest ChangeRequest
    {
        get
        {
            if (Find(StunAttributeType.ChangeRequest) is not { } value) return StunChangeRequest.None;
            if (value.Length != 4) throw new StunFormatException($"CHANGE-REQUEST has {value.Length} bytes, not 4");
            return (StunChangeRequest)(value.Span[3] & 0x06);
        }
    }
}

/// <summary>A STUN message from the network is malformed.</summary>
public sealed class StunFormatException(string message) : P2PStack.P2PFormatException(message);

/// <summary>The STUN server answered with an error response.</summary>
public sealed class StunErrorResponseException(int code, string reason)
    : IOException($"the STUN server answered error {code} {reason}")
{
    public int Code { get; } = code;

    public string Reason { get; } = reason;
}

/// <summary>No response after every retransmission (RFC 8489 section 6.2.1): the server or the path is down, or a
/// NAT/firewall filters the response.</summary>
public sealed class StunTimeoutException(string message) : TimeoutException(message);
