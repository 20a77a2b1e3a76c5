using System.Buffers.Binary;

namespace P2PStack.Protocols.Kademlia.Validation;

/// <summary>The signed fields of an IPNS record: its DAG-CBOR <c>data</c> map.</summary>
public sealed record IpnsData(byte[] Value, byte[] Validity, ulong ValidityType, ulong Sequence, ulong Ttl)
{
    /// <summary>Deepest nesting accepted inside extra fields.</summary>
    private const int MaxDepth = 16;

    /// <summary>
    /// Reads the map: definite lengths only (DAG-CBOR), text keys, no key twice; the five spec fields with their
    /// types are required, other fields are skipped whatever they hold.
    /// </summary>
    /// <exception cref="InvalidRecordException">The data is not such a map.</exception>
    public static IpnsData Parse(ReadOnlySpan<byte> data)
    {
        var reader = new Reader(data);
        ulong entries = reader.Header(5, "the IPNS data is not a CBOR map");
        byte[]? value = null, validity = null;
        ulong? validityType = null, sequence = null, ttl = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (ulong i = 0; i < entries; i++)
        {
            string key = System.Text.Encoding.UTF8.GetString(reader.Bytes(3, "an IPNS data key is not a text string"));
            if (!seen.Add(key)) throw new InvalidRecordException($"the IPNS data holds '{key}' twice");
            switch (key)
            {
                case "Value": value = reader.Bytes(2, "IPNS Value is not a byte string").ToArray(); break;
                case "Validity": validity = reader.Bytes(2, "IPNS Validity is not a byte string").ToArray(); break;
                case "ValidityType": validityType = reader.Header(0, "IPNS ValidityType is not an unsigned integer"); break;
                case "Sequence": sequence = reader.Header(0, "IPNS Sequence is not an unsigned integer"); break;
                case "TTL": ttl = reader.Header(0, "IPNS TTL is not an unsigned integer"); break;
                default: reader.Skip(0); break;
            }
        }
        if (!reader.AtEnd) throw new InvalidRecordException("the IPNS data has bytes after its map");
        return new IpnsData(
            value ?? throw Missing("Value"), validity ?? throw Missing("Validity"), validityType ?? throw Missing("ValidityType"),
            sequence ?? throw Missing("Sequence"), ttl ?? throw Missing("TTL"));
    }

    private static InvalidRecordException Missing(string field) => new($"the IPNS data has no {field}");

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public readonly bool AtEnd => _position == _data.Length;

        /// <summary>An item header of <paramref name="major"/> type; its argument (a value or a length).</summary>
        public ulong Header(int major, string error)
        {
            var (type, argument) = Next();
            if (type != major) throw new InvalidRecordException(error);
            return argument;
        }

        public ReadOnlySpan<byte> Bytes(int major, string error) => Take(Header(major, error));

        /// <summary>Skips one item of any type.</summary>
        public void Skip(int depth)
        {
            if (depth > MaxDepth) throw new InvalidRecordException("the IPNS data nests too deep");
            var (type, argument) = Next();
            switch (type)
            {
                case 2 or 3: Take(argument); break;
                case 4:
                    for (ulong i = 0; i < argument; i++) Skip(depth + 1);
                    break;
                case 5:
                    for (ulong i = 0; i < argument; i++)
                    {
                        Skip(depth + 1);
                        Skip(depth + 1);
                    }
                    break;
                case 6: Skip(depth + 1); break; // a tag (e.g. 42, a CID) and its item
            }
        }

        private (int Major, ulong Argument) Next()
        {
            if (_position >= _data.Length) throw new InvalidRecordException("the IPNS data ends early");
            byte initial = _data[_position++];
            int major = initial >> 5;
            int info = initial & 0x1f;
            ulong argument = info switch
            {
                < 24 => (ulong)info,
                24 => Take(1)[0],
                25 => BinaryPrimitives.ReadUInt16BigEndian(Take(2)),
                26 => BinaryPrimitives.ReadUInt32BigEndian(Take(4)),
                27 => BinaryPrimitives.ReadUInt64BigEndian(Take(8)),
                _ => throw new InvalidRecordException("the IPNS data uses an indefinite length or a reserved encoding"),
            };
            // A map or array cannot hold more items than there are bytes left: no huge loops on a short input.
            if (major is 4 or 5 && argument > (ulong)(_data.Length - _position)) throw new InvalidRecordException("the IPNS data ends early");
            return (major, argument);
        }

        private ReadOnlySpan<byte> Take(ulong length)
        {
            if (length > (ulong)(_data.Length - _position)) throw new InvalidRecordException("the IPNS data ends early");
            var slice = _data.Slice(_position, (int)length);
            _position += (int)length;
            return slice;
        }
    }
}
