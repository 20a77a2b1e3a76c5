using System.Net;

namespace P2PStack.Discovery.Mdns.Dns;

/// <summary>Resource record types this codec understands; any other value is kept as raw data.</summary>
public enum DnsRecordType : ushort
{
    A = 1,
    Ptr = 12,
    Txt = 16,
    Aaaa = 28,
    Srv = 33,
    Any = 255,
}

/// <summary>DNS classes: IN, and ANY for questions.</summary>
public static class DnsClass
{
    public const ushort Internet = 1;
    public const ushort Any = 255;
}

/// <summary>
/// A question. Names are dotted text without the trailing dot; a '.' or '\' inside a label is escaped with '\'.
/// <paramref name="UnicastResponse"/> is mDNS's QU bit (the top bit of the class field, RFC 6762 §5.4).
/// </summary>
public sealed record DnsQuestion(string Name, DnsRecordType Type, ushort Class = DnsClass.Internet, bool UnicastResponse = false);

/// <summary>
/// A resource record. <paramref name="CacheFlush"/> is mDNS's cache-flush bit (the top bit of the class field,
/// RFC 6762 §10.2), set on records this responder alone owns.
/// </summary>
public sealed record DnsRecord(string Name, DnsRecordType Type, uint Ttl, DnsRecordData Data,
    ushort Class = DnsClass.Internet, bool CacheFlush = false);

/// <summary>The RDATA of a record, decoded by type.</summary>
public abstract record DnsRecordData;

/// <summary>A (IPv4) or AAAA (IPv6) data.</summary>
public sealed record DnsAddressData(IPAddress Address) : DnsRecordData;

/// <summary>PTR data: the name pointed to.</summary>
public sealed record DnsPtrData(string Target) : DnsRecordData;

/// <summary>SRV data (RFC 2782).</summary>
public sealed record DnsSrvData(ushort Priority, ushort Weight, ushort Port, string Target) : DnsRecordData;

/// <summary>TXT data: character-strings of up to 255 bytes each.</summary>
public sealed record DnsTxtData(IReadOnlyList<byte[]> Strings) : DnsRecordData;

/// <summary>Data of a type this codec does not decode, kept as bytes (names inside are not decompressed).</summary>
public sealed record DnsRawData(byte[] Bytes) : DnsRecordData;

/// <summary>A DNS message: header fields and the four sections.</summary>
public sealed record DnsMessage(
    ushort Id,
    ushort Flags,
    IReadOnlyList<DnsQuestion> Questions,
    IReadOnlyList<DnsRecord> Answers,
    IReadOnlyList<DnsRecord> Authorities,
    IReadOnlyList<DnsRecord> Additionals)
{
    public const ushort ResponseFlag = 0x8000;
    public const ushort AuthoritativeFlag = 0x0400;
    public const ushort TruncatedFlag = 0x0200;

    public bool IsResponse => (Flags & ResponseFlag) != 0;

    public bool IsTruncated => (Flags & TruncatedFlag) != 0;

    public int Opcode => (Flags >> 11) & 0xF;

    public int ResponseCode => Flags & 0xF;

    /// <summary>A multicast query (id 0, no flags) with the given questions.</summary>
    public static DnsMessage Query(params DnsQuestion[] questions) => new(0, 0, questions, [], [], []);

    /// <summary>An authoritative response (id 0) as mDNS responders send it (RFC 6762 §18).</summary>
    public static DnsMessage Response(IReadOnlyList<DnsRecord> answers, IReadOnlyList<DnsRecord> additionals) =>
        new(0, ResponseFlag | AuthoritativeFlag, [], answers, [], additionals);
}
