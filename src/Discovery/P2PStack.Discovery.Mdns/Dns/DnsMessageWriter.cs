using System.Buffers.Binary;
using System.Net.Sockets;

namespace P2PStack.Discovery.Mdns.Dns;

/// <summary>
/// Encodes DNS messages with name compression (RFC 1035 §4.1.4): each name suffix already written is replaced by a
/// pointer to it (names in PTR and SRV data too, as RFC 6762 §18.14 allows).
/// </summary>
public sealed class DnsMessageWriter
{
    private readonly Dictionary<string, int> _suffixes = new(StringComparer.Ordinal);
    private byte[] _buffer;
    private int _length;

    private DnsMessageWriter(int capacity) => _buffer = new byte[capacity];

    /// <summary>Encodes the message.</summary>
    /// <exception cref="ArgumentException">A name, TXT string or count is invalid, or the message exceeds <paramref name="maxSize"/> bytes.</exception>
    public static byte[] Write(DnsMessage message, int maxSize = 9000)
    {
        ArgumentNullException.ThrowIfNull(message);
        var writer = new DnsMessageWriter(512);
        writer.WriteMessage(message);
        if (writer._length > maxSize)
            throw new ArgumentException($"message of {writer._length} bytes exceeds {maxSize}", nameof(message));
        return writer._buffer.AsSpan(0, writer._length).ToArray();
    }

    private void WriteMessage(DnsMessage message)
    {
        WriteUInt16(message.Id);
        WriteUInt16(message.Flags);
        WriteUInt16(Count(message.Questions.Count));
        WriteUInt16(Count(message.Answers.Count));
        WriteUInt16(Count(message.Authorities.Count));
        WriteUInt16(Count(message.Additionals.Count));
        foreach (var question in message.Questions)
        {
            WriteName(question.Name);
            WriteUInt16((ushort)question.Type);
            WriteUInt16(ClassField(question.Class, question.UnicastResponse));
        }
        foreach (var record in message.Answers) WriteRecord(record);
        foreach (var record in message.Authorities) WriteRecord(record);
        foreach (var record in message.Additionals) WriteRecord(record);
    }

    private void WriteRecord(DnsRecord record)
    {
        WriteName(record.Name);
        WriteUInt16((ushort)record.Type);
        WriteUInt16(ClassField(record.Class, record.CacheFlush));
        WriteUInt32(record.Ttl);
        int lengthAt = _length;
        WriteUInt16(0);
        int start = _length;
        switch (record.Data)
        {
            case DnsAddressData address:
                var expected = record.Type == DnsRecordType.A ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
                if (address.Address.AddressFamily != expected || record.Type is not (DnsRecordType.A or DnsRecordType.Aaaa))
                    throw new ArgumentException($"{record.Type} record cannot hold {address.Address}");
                Span<byte> bytes = stackalloc byte[16];
                address.Address.TryWriteBytes(bytes, out int written);
                WriteBytes(bytes[..written]);
                break;
            case DnsPtrData ptr:
                WriteName(ptr.Target);
                break;
            case DnsSrvData srv:
                WriteUInt16(srv.Priority);
                WriteUInt16(srv.Weight);
                WriteUInt16(srv.Port);
                WriteName(srv.Target);
                break;
            case DnsTxtData txt:
                if (txt.Strings.Count == 0) WriteByte(0); // an empty TXT record is one empty string (RFC 6763 §6.1)
                foreach (var text in txt.Strings)
                {
                    if (text.Length > 255) throw new ArgumentException($"TXT string of {text.Length} bytes (at most 255)");
                    WriteByte((byte)text.Length);
                    WriteBytes(text);
                }
                break;
            case DnsRawData raw:
                WriteBytes(raw.Bytes);
                break;
            default:
                throw new ArgumentException($"unknown record data {record.Data.GetType().Name}");
        }
        int length = _length - start;
        if (length > ushort.MaxValue) throw new ArgumentException($"record data of {length} bytes");
        BinaryPrimitives.WriteUInt16BigEndian(_buffer.AsSpan(lengthAt), (ushort)length);
    }

    private void WriteName(string name)
    {
        var labels = DnsName.ToLabels(name);
        for (int i = 0; i < labels.Count; i++)
        {
            string suffix = string.Join('.', labels.Skip(i).Select(Convert.ToHexString)); // exact bytes: keeps case
            if (_suffixes.TryGetValue(suffix, out int target))
            {
                WriteUInt16((ushort)(0xC000 | target));
                return;
            }
            if (_length <= 0x3FFF) _suffixes[suffix] = _length;
            WriteByte((byte)labels[i].Length);
            WriteBytes(labels[i]);
        }
        WriteByte(0);
    }

    private static ushort Count(int count) =>
        count <= ushort.MaxValue ? (ushort)count : throw new ArgumentException($"section of {count} entries");

    private static ushort ClassField(ushort value, bool topBit)
    {
        if (value > 0x7FFF) throw new ArgumentException($"class {value} does not fit 15 bits");
        return (ushort)(value | (topBit ? 0x8000 : 0));
    }

    private void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Grow(2), value);

    private void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Grow(4), value);

    private void WriteByte(byte value) => Grow(1)[0] = value;

    private void WriteBytes(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Grow(bytes.Length));

    private Span<byte> Grow(int count)
    {
        if (_length + count > _buffer.Length) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + count));
        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}
