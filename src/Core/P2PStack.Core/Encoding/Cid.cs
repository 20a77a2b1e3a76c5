namespace P2PStack.Encoding;

/// <summary>Raised when bytes or text do not hold a valid CID.</summary>
public sealed class CidException(string message) : P2PFormatException(message);

/// <summary>
/// Content identifier (multiformats/cid). CIDv0 is a bare sha2-256 multihash of dag-pb content, written in base58btc
/// without a prefix ("Qm..."); CIDv1 is <c>varint(1) varint(codec) multihash</c>, written in any multibase (base32 by
/// default). Immutable, with value equality over the binary form (so a v0 never equals its v1 counterpart).
/// </summary>
public sealed class Cid : IEquatable<Cid>
{
    private const int V0Length = 34;
    private const int V0StringLength = 46;

    /// <summary>Longest binary CID accepted: version and codec varints plus the largest multihash.</summary>
    public const int MaxEncodedLength = 2 * Varint.MaxLength + 2 * Varint.MaxLength + Multihash.MaxDigestLength;

    private readonly byte[] _encoded;

    private Cid(int version, ulong codec, Multihash hash, byte[] encoded)
    {
        Version = version;
        Codec = codec;
        Hash = hash;
        _encoded = encoded;
    }

    /// <summary>0 or 1.</summary>
    public int Version { get; }

    /// <summary>Content type (see <see cref="Multicodec"/>); always dag-pb for version 0.</summary>
    public ulong Codec { get; }

    public Multihash Hash { get; }

    /// <summary>The binary form, without copying.</summary>
    public ReadOnlyMemory<byte> Encoded => _encoded;

    public int EncodedLength => _encoded.Length;

    public byte[] ToBytes() => (byte[])_encoded.Clone();

    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < _encoded.Length)
            throw new ArgumentException($"destination needs {_encoded.Length} bytes", nameof(destination));
        _encoded.CopyTo(destination);
    }

    /// <summary>A CIDv1 of <paramref name="codec"/> content with hash <paramref name="hash"/>.</summary>
    public static Cid V1(ulong codec, Multihash hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        if (codec > Varint.MaxValue) throw new ArgumentOutOfRangeException(nameof(codec), "codec exceeds 63 bits");
        int codecSize = Varint.SizeOf(codec);
        var encoded = new byte[1 + codecSize + hash.EncodedLength];
        encoded[0] = 1;
        Varint.Write(codec, encoded.AsSpan(1));
        hash.WriteTo(encoded.AsSpan(1 + codecSize));
        return new Cid(1, codec, hash, encoded);
    }

    /// <summary>A CIDv0, which only exists for a full 32-byte sha2-256 hash of dag-pb content.</summary>
    public static Cid V0(Multihash hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        if (!IsV0Hash(hash)) throw new ArgumentException("CIDv0 requires a 32-byte sha2-256 multihash", nameof(hash));
        return new Cid(0, Multicodec.DagPb, hash, hash.ToBytes());
    }

    private static bool IsV0Hash(Multihash hash) => hash.Code == MultihashCode.Sha2_256 && hash.Digest.Length == 32;

    /// <summary>The same content as a CIDv1 (a v1 is returned as is).</summary>
    public Cid ToV1() => Version == 1 ? this : V1(Codec, Hash);

    /// <summary>Decodes a binary CID that must span all of <paramref name="source"/>.</summary>
    /// <exception cref="CidException">Malformed, truncated, an unsupported version, or followed by extra bytes.</exception>
    public static Cid Decode(ReadOnlySpan<byte> source)
    {
        Cid cid = Read(source, out int bytesRead);
        if (bytesRead != source.Length) throw new CidException($"{source.Length - bytesRead} unexpected bytes after the CID");
        return cid;
    }

    /// <summary>Decodes the binary CID at the start of <paramref name="source"/>; <paramref name="bytesRead"/> is its length.</summary>
    /// <exception cref="CidException">Malformed, truncated or an unsupported version.</exception>
    public static Cid Read(ReadOnlySpan<byte> source, out int bytesRead)
    {
        if (source.IsEmpty) throw new CidException("CID is empty");
        try
        {
            // A leading 0x12 (sha2-256) can only be a CIDv0: there is deliberately no CID version 18.
            if (source[0] == (byte)MultihashCode.Sha2_256)
            {
                if (source.Length < V0Length || source[1] != 0x20)
                    throw new CidException("CIDv0 must be a 34-byte sha2-256 multihash");
                Multihash v0Hash = Multihash.Decode(source[..V0Length]);
                bytesRead = V0Length;
                return new Cid(0, Multicodec.DagPb, v0Hash, source[..V0Length].ToArray());
            }

            ulong version = Varint.Read(source, out int versionSize);
            if (version != 1)
                throw new CidException(version is 0 ? "CID version 0 is only valid as a bare multihash"
                    : version is 2 or 3 ? $"CID version {version} is reserved" : $"unsupported CID version {version}");
            ulong codec = Varint.Read(source[versionSize..], out int codecSize);
            int header = versionSize + codecSize;
            Multihash hash = Multihash.Read(source[header..], out int hashSize);
            bytesRead = header + hashSize;
            return new Cid(1, codec, hash, source[..bytesRead].ToArray());
        }
        catch (Exception e) when (e is VarintException or MultihashException)
        {
            throw new CidException($"invalid CID: {e.Message}");
        }
    }

    /// <summary>
    /// Parses a CID string: a 46-character "Qm..." base58btc CIDv0, or a multibase CIDv1. Multibase text that decodes
    /// to a CIDv0 is rejected, as the CID spec requires.
    /// </summary>
    /// <exception cref="CidException">Not a valid CID string.</exception>
    public static Cid Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            if (text.Length == V0StringLength && text.StartsWith("Qm", StringComparison.Ordinal))
            {
                byte[] raw = Base58.Decode(text);
                if (raw.Length != V0Length) throw new CidException("CIDv0 text does not decode to 34 bytes");
                return Decode(raw);
            }
            byte[] bytes = Multibase.Decode(text, out _, MaxEncodedLength);
            if (bytes.Length > 0 && bytes[0] == (byte)MultihashCode.Sha2_256)
                throw new CidException("a CIDv0 may not be multibase encoded");
            return Decode(bytes);
        }
        catch (MultibaseException e)
        {
            throw new CidException($"invalid CID text: {e.Message}");
        }
    }

    /// <summary>Like <see cref="Parse"/>, but returns false instead of throwing.</summary>
    public static bool TryParse(string? text, out Cid? cid)
    {
        cid = null;
        if (text is null) return false;
        try
        {
            cid = Parse(text);
            return true;
        }
        catch (CidException)
        {
            return false;
        }
    }

    /// <summary>CIDv0 as base58btc without prefix; CIDv1 as multibase base32.</summary>
    public override string ToString() => Version == 0 ? Base58.Encode(_encoded) : Multibase.Encode(MultibaseEncoding.Base32, _encoded);

    /// <summary>CIDv1 in <paramref name="encoding"/>. A CIDv0 has only its base58btc form (use <see cref="ToV1"/>).</summary>
    public string ToString(MultibaseEncoding encoding)
    {
        if (Version == 0)
        {
            if (encoding != MultibaseEncoding.Base58Btc)
                throw new InvalidOperationException("a CIDv0 can only be written in base58btc; convert it with ToV1()");
            return Base58.Encode(_encoded);
        }
        return Multibase.Encode(encoding, _encoded);
    }

    public bool Equals(Cid? other) => other is not null && _encoded.AsSpan().SequenceEqual(other._encoded);
    public override bool Equals(object? obj) => Equals(obj as Cid);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_encoded);
        return hash.ToHashCode();
    }

    public static bool operator ==(Cid? left, Cid? right) => left is null ? right is null : left.Equals(right);
    public static bool operator !=(Cid? left, Cid? right) => !(left == right);
}
