using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace P2PStack.Discovery.Mdns.Dns;

/// <summary>
/// Strict decoder of DNS messages (RFC 1035) as mDNS uses them. Name compression is followed only backwards
/// (each pointer strictly before the previous one), so loops are impossible; every length is checked against the
/// packet and the limits. Anything malformed raises <see cref="DnsFormatException"/>.
/// </summary>
public static class DnsMessageReader
{
    private const int HeaderSize = 12;
    private const int MinQuestionSize = 5; // root name, type, class
    private const int MinRecordSize = 11; // root name, type, class, ttl, rdlength

    public static DnsMessage Read(ReadOnlySpan<byte> packet) => Read(packet, DnsLimits.Default);

    /// <exception cref="DnsFormatException">The packet is malformed or exceeds <paramref name="limits"/>.</exception>
    public static DnsMessage Read(ReadOnlySpan<byte> packet, DnsLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (packet.Length > limits.MaxMessageSize)
            throw new DnsFormatException($"message of {packet.Length} bytes exceeds the limit of {limits.MaxMessageSize}");
        if (packet.Length < HeaderSize) throw new DnsFormatException($"message of {packet.Length} bytes is shorter than the 12-byte header");
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(packet);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        int questions = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        int answers = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        int authorities = BinaryPrimitives.ReadUInt16BigEndian(packet[8..]);
        int additionals = BinaryPrimitives.ReadUInt16BigEndian(packet[10..]);
        int total = questions + answers + authorities + additionals;
        if (total > limits.MaxRecords)
            throw new DnsFormatException($"message holds {total} questions and records, more than the limit of {limits.MaxRecords}");
        long minimum = HeaderSize + (long)questions * MinQuestionSize + (long)(answers + authorities + additionals) * MinRecordSize;
        if (minimum > packet.Length)
            throw new DnsFormatException($"message of {packet.Length} bytes cannot hold the {total} entries its header announces");

        int offset = HeaderSize;
        var questionList = new DnsQuestion[questions];
        for (int i = 0; i < questions; i++) questionList[i] = ReadQuestion(packet, ref offset);
        var answerList = ReadRecords(packet, ref offset, answers, limits);
        var authorityList = ReadRecords(packet, ref offset, authorities, limits);
        var additionalList = ReadRecords(packet, ref offset, additionals, limits);
        if (offset != packet.Length)
            throw new DnsFormatException($"{packet.Length - offset} bytes follow the last record");
        return new DnsMessage(id, flags, questionList, answerList, authorityList, additionalList);
    }

    private static DnsQuestion ReadQuestion(ReadOnlySpan<byte> packet, ref int offset)
    {
        string name = ReadName(packet, ref offset);
        Need(packet, offset, 4, "question");
        var type = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
        ushort rawClass = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
        offset += 4;
        return new DnsQuestion(name, type, (ushort)(rawClass & 0x7FFF), (rawClass & 0x8000) != 0);
    }

    private static DnsRecord[] ReadRecords(ReadOnlySpan<byte> packet, ref int offset, int count, DnsLimits limits)
    {
        var records = new DnsRecord[count];
        for (int i = 0; i < count; i++) records[i] = ReadRecord(packet, ref offset, limits);
        return records;
    }

    private static DnsRecord ReadRecord(ReadOnlySpan<byte> packet, ref int offset, DnsLimits limits)
    {
        string name = ReadName(packet, ref offset);
        Need(packet, offset, 10, "record header");
        var type = (DnsRecordType)BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
        ushort rawClass = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
        uint ttl = BinaryPrimitives.ReadUInt32BigEndian(packet[(offset + 4)..]);
        int length = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 8)..]);
        offset += 10;
        Need(packet, offset, length, $"{type} record data");
        int end = offset + length;
        var data = ReadData(packet, offset, end, type, limits);
        offset = end;
        return new DnsRecord(name, type, ttl, data, (ushort)(rawClass & 0x7FFF), (rawClass & 0x8000) != 0);
    }

    private static DnsRecordData ReadData(ReadOnlySpan<byte> packet, int start, int end, DnsRecordType type, DnsLimits limits)
    {
        var data = packet[start..end];
        switch (type)
        {
            case DnsRecordType.A:
                if (data.Length != 4) throw new DnsFormatException($"A record data of {data.Length} bytes (must be 4)");
                return new DnsAddressData(new IPAddress(data));
            case DnsRecordType.Aaaa:
                if (data.Length != 16) throw new DnsFormatException($"AAAA record data of {data.Length} bytes (must be 16)");
                return new DnsAddressData(new IPAddress(data));
            case DnsRecordType.Ptr:
            {
                int position = start;
                string target = ReadName(packet, ref position);
                ExpectEnd(position, end, "PTR");
                return new DnsPtrData(target);
            }
            case DnsRecordType.Srv:
            {
                if (data.Length < 7) throw new DnsFormatException($"SRV record data of {data.Length} bytes is too short");
                int position = start + 6;
                string target = ReadName(packet, ref position);
                ExpectEnd(position, end, "SRV");
                return new DnsSrvData(BinaryPrimitives.ReadUInt16BigEndian(data), BinaryPrimitives.ReadUInt16BigEndian(data[2..]),
                    BinaryPrimitives.ReadUInt16BigEndian(data[4..]), target);
            }
            case DnsRecordType.Txt:
                return ReadTxt(data, limits);
            default:
                return new DnsRawData(data.ToArray());
        }
    }

    private static DnsTxtData ReadTxt(ReadOnlySpan<byte> data, DnsLimits limits)
    {
        var strings = new List<byte[]>();
        int position = 0;
        while (position < data.Length)
        {
            if (strings.Count == limits.MaxTxtStrings)
                throw new DnsFormatException($"TXT record holds more than {limits.MaxTxtStrings} strings");
            int length = data[position++];
            if (length > data.Length - position)
                throw new DnsFormatException($"TXT string of {length} bytes overruns its record");
            strings.Add(data.Slice(position, length).ToArray());
            position += length;
        }
        return new DnsTxtData(strings);
    }

    /// <summary>Reads a possibly compressed name; <paramref name="offset"/> moves past its in-place bytes.</summary>
    internal static string ReadName(ReadOnlySpan<byte> packet, ref int offset)
    {
        var name = new StringBuilder();
        int position = offset;
        int lowestTarget = offset;
        int wireLength = 1;
        bool jumped = false;
        while (true)
        {
            if (position >= packet.Length) throw new DnsFormatException("name runs past the end of the message");
            byte head = packet[position];
            switch (head & 0xC0)
            {
                case 0x00:
                    if (head == 0)
                    {
                        if (!jumped) offset = position + 1;
                        return name.ToString();
                    }
                    if (head > packet.Length - position - 1) throw new DnsFormatException("label runs past the end of the message");
                    wireLength += head + 1;
                    if (wireLength > DnsName.MaxWireLength)
                        throw new DnsFormatException($"name is longer than {DnsName.MaxWireLength} bytes");
                    if (name.Length > 0) name.Append('.');
                    name.Append(DnsName.DecodeLabel(packet.Slice(position + 1, head)));
                    position += head + 1;
                    break;
                case 0xC0:
                    if (position + 1 >= packet.Length) throw new DnsFormatException("compression pointer runs past the end of the message");
                    int target = ((head & 0x3F) << 8) | packet[position + 1];
                    if (target >= lowestTarget)
                        throw new DnsFormatException($"compression pointer to {target} does not point before {lowestTarget}");
                    if (!jumped) offset = position + 2;
                    jumped = true;
                    lowestTarget = target;
                    position = target;
                    break;
                default:
                    throw new DnsFormatException($"unsupported label type 0x{head & 0xC0:x2}");
            }
        }
    }

    private static void Need(ReadOnlySpan<byte> packet, int offset, int count, string what)
    {
        if (count > packet.Length - offset) throw new DnsFormatException($"{what} runs past the end of the message");
    }

    private static void ExpectEnd(int position, int end, string type)
    {
        if (position != end) throw new DnsFormatException($"{type} name does not fill its record data exactly");
    }
}
