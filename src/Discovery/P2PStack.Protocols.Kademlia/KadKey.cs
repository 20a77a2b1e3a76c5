using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia;

/// <summary>
/// A point of the 256-bit Kademlia keyspace: SHA-256 of a record key, or of a peer id's binary multihash (as
/// go-libp2p-kbucket's ConvertPeerID/ConvertKey do). Distance is the XOR of two points read as a big-endian number.
/// </summary>
public readonly struct KadKey : IEquatable<KadKey>
{
    public const int Length = 32;

    // Four big-endian words: _w0 holds bytes 0..7 (the most significant).
    private readonly ulong _w0, _w1, _w2, _w3;

    private KadKey(ulong w0, ulong w1, ulong w2, ulong w3)
    {
        _w0 = w0;
        _w1 = w1;
        _w2 = w2;
        _w3 = w3;
    }

    /// <summary>Wraps 32 bytes that already are a keyspace point (no hashing).</summary>
    public static KadKey FromHash(ReadOnlySpan<byte> digest)
    {
        if (digest.Length != Length) throw new ArgumentException($"a keyspace point is {Length} bytes, got {digest.Length}", nameof(digest));
        return new KadKey(
            BinaryPrimitives.ReadUInt64BigEndian(digest),
            BinaryPrimitives.ReadUInt64BigEndian(digest[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(digest[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(digest[24..]));
    }

    /// <summary>The keyspace point of a record or provider key: SHA-256 of its bytes.</summary>
    public static KadKey FromKey(ReadOnlySpan<byte> key)
    {
        Span<byte> digest = stackalloc byte[Length];
        SHA256.HashData(key, digest);
        return FromHash(digest);
    }

    /// <summary>The keyspace point of a peer: SHA-256 of its binary peer id.</summary>
    public static KadKey FromPeer(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return FromKey(peer.Bytes.Span);
    }

    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _w0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _w1);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _w2);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _w3);
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[Length];
        CopyTo(bytes);
        return bytes;
    }

    /// <summary>XOR distance between two points (itself a point: compare distances with <see cref="CompareTo"/>).</summary>
    public KadKey Xor(KadKey other) => new(_w0 ^ other._w0, _w1 ^ other._w1, _w2 ^ other._w2, _w3 ^ other._w3);

    /// <summary>Number of leading bits the two points share (256 when equal).</summary>
    public int CommonPrefixLength(KadKey other) => Xor(other).LeadingZeroBits();

    /// <summary>Leading zero bits of this value (256 for zero).</summary>
    public int LeadingZeroBits()
    {
        if (_w0 != 0) return BitOperations.LeadingZeroCount(_w0);
        if (_w1 != 0) return 64 + BitOperations.LeadingZeroCount(_w1);
        if (_w2 != 0) return 128 + BitOperations.LeadingZeroCount(_w2);
        return 192 + BitOperations.LeadingZeroCount(_w3);
    }

    /// <summary>Orders as unsigned big-endian 256-bit numbers (for distances: closer first).</summary>
    public int CompareTo(KadKey other)
    {
        int c = _w0.CompareTo(other._w0);
        if (c != 0) return c;
        c = _w1.CompareTo(other._w1);
        if (c != 0) return c;
        c = _w2.CompareTo(other._w2);
        return c != 0 ? c : _w3.CompareTo(other._w3);
    }

    /// <summary>Compares the distances of <paramref name="a"/> and <paramref name="b"/> to this point.</summary>
    public int CompareDistance(KadKey a, KadKey b) => Xor(a).CompareTo(Xor(b));

    public bool Equals(KadKey other) => _w0 == other._w0 && _w1 == other._w1 && _w2 == other._w2 && _w3 == other._w3;

    public override bool Equals(object? obj) => obj is KadKey other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_w0, _w1, _w2, _w3);

    public static bool operator ==(KadKey left, KadKey right) => left.Equals(right);
    public static bool operator !=(KadKey left, KadKey right) => !left.Equals(right);

    public override string ToString() => Convert.ToHexStringLower(ToBytes());
}
