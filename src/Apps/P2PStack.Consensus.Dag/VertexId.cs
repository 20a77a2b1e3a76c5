using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Google.Protobuf;

namespace P2PStack.Consensus.Dag;

/// <summary>A vertex id: the SHA-256 of the vertex's encoded signed envelope. Shown as 64 lowercase hex digits.</summary>
public readonly struct VertexId : IEquatable<VertexId>, IComparable<VertexId>
{
    public const int Length = 32;

    // Big-endian words, so that comparing them in order compares the bytes.
    private readonly ulong _a, _b, _c, _d;

    private VertexId(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a;
        _b = b;
        _c = c;
        _d = d;
    }

    /// <exception cref="DagFormatException">Not 32 bytes.</exception>
    public static VertexId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length) throw new DagFormatException(DagRefusal.Malformed, $"a vertex id is {Length} bytes, got {bytes.Length}");
        return new VertexId(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]), BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));
    }

    /// <summary>The id of an encoded signed vertex envelope.</summary>
    public static VertexId Of(ReadOnlySpan<byte> envelope)
    {
        Span<byte> hash = stackalloc byte[Length];
        SHA256.HashData(envelope, hash);
        return FromBytes(hash);
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[Length];
        WriteTo(bytes);
        return bytes;
    }

    internal ByteString ToByteString() => UnsafeByteOperations.UnsafeWrap(ToBytes());

    /// <summary>Parses 64 hex digits (either case).</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out VertexId id)
    {
        id = default;
        if (text is null || text.Length != 2 * Length) return false;
        Span<byte> bytes = stackalloc byte[Length];
        if (Convert.FromHexString(text, bytes, out _, out int written) != OperationStatus.Done || written != Length) return false;
        id = FromBytes(bytes);
        return true;
    }

    /// <exception cref="FormatException">Not 64 hex digits.</exception>
    public static VertexId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a vertex id (64 hex digits)");

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>The first 12 hex digits, for logs.</summary>
    public string ToShortString() => ToString()[..12];

    public bool Equals(VertexId other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    public override bool Equals(object? obj) => obj is VertexId other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_a, _d);

    public int CompareTo(VertexId other)
    {
        int c = _a.CompareTo(other._a);
        if (c != 0) return c;
        c = _b.CompareTo(other._b);
        if (c != 0) return c;
        c = _c.CompareTo(other._c);
        return c != 0 ? c : _d.CompareTo(other._d);
    }

    public static bool operator ==(VertexId left, VertexId right) => left.Equals(right);

    public static bool operator !=(VertexId left, VertexId right) => !left.Equals(right);

    public static bool operator <(VertexId left, VertexId right) => left.CompareTo(right) < 0;

    public static bool operator >(VertexId left, VertexId right) => left.CompareTo(right) > 0;

    public static bool operator <=(VertexId left, VertexId right) => left.CompareTo(right) <= 0;

    public static bool operator >=(VertexId left, VertexId right) => left.CompareTo(right) >= 0;
}
