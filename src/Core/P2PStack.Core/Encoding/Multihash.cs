using System.Security.Cryptography;

namespace P2PStack.Encoding;

/// <summary>Raised when bytes or text do not hold a valid multihash.</summary>
public sealed class MultihashException(string message) : P2PFormatException(message);

/// <summary>
/// A self-describing hash: <c>varint(code) varint(length) digest</c> (multiformats/multihash). Immutable, with value
/// equality over the encoded bytes. Digests of known fixed-size functions may be truncated but never longer than the
/// function's output; every digest is capped at <see cref="MaxDigestLength"/> bytes so that decoding untrusted input
/// cannot be made to allocate without bound (the spec sets no limit; 1 KiB is far above any real hash or inlined key).
/// </summary>
public sealed class Multihash : IEquatable<Multihash>
{
    /// <summary>Largest digest accepted, in bytes.</summary>
    public const int MaxDigestLength = 1024;

    private readonly byte[] _encoded;
    private readonly int _digestOffset;

    private Multihash(ulong code, byte[] encoded, int digestOffset)
    {
        Code = code;
        _encoded = encoded;
        _digestOffset = digestOffset;
    }

    /// <summary>Hash function code (see <see cref="MultihashCode"/>).</summary>
    public ulong Code { get; }

    /// <summary>The digest bytes, without the code and length prefix.</summary>
    public ReadOnlyMemory<byte> Digest => _encoded.AsMemory(_digestOffset);

    /// <summary>The full encoding (code, length, digest), without copying.</summary>
    public ReadOnlyMemory<byte> Encoded => _encoded;

    /// <summary>Length of the full encoding in bytes.</summary>
    public int EncodedLength => _encoded.Length;

    /// <summary>A fresh copy of the full encoding.</summary>
    public byte[] ToBytes() => (byte[])_encoded.Clone();

    /// <summary>Writes the full encoding; <paramref name="destination"/> needs <see cref="EncodedLength"/> bytes.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < _encoded.Length)
            throw new ArgumentException($"destination needs {_encoded.Length} bytes", nameof(destination));
        _encoded.CopyTo(destination);
    }

    /// <summary>Builds a multihash from a digest computed elsewhere.</summary>
    /// <exception cref="ArgumentException">The digest is longer than the function produces, or than <see cref="MaxDigestLength"/>.</exception>
    public static Multihash Create(ulong code, ReadOnlySpan<byte> digest)
    {
        if (code > Varint.MaxValue) throw new ArgumentOutOfRangeException(nameof(code), "multihash code exceeds 63 bits");
        string? error = CheckDigestLength(code, digest.Length);
        if (error != null) throw new ArgumentException(error, nameof(digest));
        return Build(code, digest);
    }

    private static Multihash Build(ulong code, ReadOnlySpan<byte> digest)
    {
        int codeSize = Varint.SizeOf(code);
        int lengthSize = Varint.SizeOf((ulong)digest.Length);
        var encoded = new byte[codeSize + lengthSize + digest.Length];
        Varint.Write(code, encoded);
        Varint.Write((ulong)digest.Length, encoded.AsSpan(codeSize));
        digest.CopyTo(encoded.AsSpan(codeSize + lengthSize));
        return new Multihash(code, encoded, codeSize + lengthSize);
    }

    private static string? CheckDigestLength(ulong code, int length)
    {
        if (length > MaxDigestLength)
            return $"multihash digest of {length} bytes exceeds the limit of {MaxDigestLength}";
        int full = MultihashCode.DigestLength(code);
        if (full >= 0 && length > full)
            return $"{MultihashCode.Name(code)} digest of {length} bytes is longer than the function's {full}-byte output";
        return null;
    }

    /// <summary>Wraps <paramref name="data"/> itself as the digest (code 0x00), as peer ids of small keys do.</summary>
    public static Multihash Identity(ReadOnlySpan<byte> data) => Create(MultihashCode.Identity, data);

    /// <summary>SHA2-256 of <paramref name="data"/>.</summary>
    public static Multihash Sha2_256(ReadOnlySpan<byte> data) => Compute(MultihashCode.Sha2_256, data);

    /// <summary>True when <see cref="Compute(ulong, ReadOnlySpan{byte})"/> can run <paramref name="code"/> here.</summary>
    public static bool CanCompute(ulong code) => MultihashAlgorithms.IsSupported(code);

    /// <summary>Hashes <paramref name="data"/> with the function <paramref name="code"/>, full output length.</summary>
    /// <exception cref="NotSupportedException">The function is not one this library computes.</exception>
    public static Multihash Compute(ulong code, ReadOnlySpan<byte> data)
        => code == MultihashCode.Identity ? Identity(data) : Compute(code, data, FullLength(code));

    /// <summary>Hashes <paramref name="data"/> and keeps the first <paramref name="digestLength"/> bytes of the output.</summary>
    public static Multihash Compute(ulong code, ReadOnlySpan<byte> data, int digestLength)
    {
        if (code == MultihashCode.Identity)
        {
            if (digestLength != data.Length) throw new ArgumentOutOfRangeException(nameof(digestLength), "identity digests cannot be truncated");
            return Identity(data);
        }
        int full = FullLength(code);
        if (digestLength < 0 || digestLength > full)
            throw new ArgumentOutOfRangeException(nameof(digestLength), $"{MultihashCode.Name(code)} produces at most {full} bytes");
        Span<byte> digest = stackalloc byte[full];
        MultihashAlgorithms.Compute(code, data, digest);
        return Build(code, digest[..digestLength]);
    }

    private static int FullLength(ulong code)
    {
        if (!MultihashAlgorithms.IsSupported(code))
            throw new NotSupportedException($"multihash function {MultihashCode.Name(code) ?? $"0x{code:x}"} is not supported for computing");
        return MultihashCode.DigestLength(code);
    }

    /// <summary>
    /// True when hashing <paramref name="data"/> with this multihash's function gives this digest (compared in fixed
    /// time; truncated digests compare the prefix). False, not an exception, for functions this library cannot run.
    /// </summary>
    public bool Matches(ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> digest = _encoded.AsSpan(_digestOffset);
        if (Code == MultihashCode.Identity) return CryptographicOperations.FixedTimeEquals(digest, data);
        if (!MultihashAlgorithms.IsSupported(Code)) return false;
        Span<byte> actual = stackalloc byte[MultihashCode.DigestLength(Code)];
        MultihashAlgorithms.Compute(Code, data, actual);
        return CryptographicOperations.FixedTimeEquals(digest, actual[..digest.Length]);
    }

    /// <summary>Decodes a multihash that must span all of <paramref name="source"/>.</summary>
    /// <exception cref="MultihashException">Malformed, truncated, over-long, or followed by extra bytes.</exception>
    public static Multihash Decode(ReadOnlySpan<byte> source)
    {
        Multihash hash = Read(source, out int bytesRead);
        if (bytesRead != source.Length)
            throw new MultihashException($"{source.Length - bytesRead} unexpected bytes after the multihash");
        return hash;
    }

    /// <summary>Decodes the multihash at the start of <paramref name="source"/>; <paramref name="bytesRead"/> is its length.</summary>
    /// <exception cref="MultihashException">Malformed, truncated or over-long.</exception>
    public static Multihash Read(ReadOnlySpan<byte> source, out int bytesRead)
    {
        ulong code = ReadVarint(source, "function code", out int codeSize);
        ulong length = ReadVarint(source[codeSize..], "digest length", out int lengthSize);
        int header = codeSize + lengthSize;
        if (length > MaxDigestLength)
            throw new MultihashException($"multihash digest length {length} exceeds the limit of {MaxDigestLength}");
        string? error = CheckDigestLength(code, (int)length);
        if (error != null) throw new MultihashException(error);
        if (source.Length - header < (int)length)
            throw new MultihashException($"multihash truncated: digest needs {length} bytes, {source.Length - header} present");
        bytesRead = header + (int)length;
        return new Multihash(code, source[..bytesRead].ToArray(), header);
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> source, string what, out int size)
    {
        try
        {
            return Varint.Read(source, out size);
        }
        catch (VarintException e)
        {
            throw new MultihashException($"multihash {what}: {e.Message}");
        }
    }

    /// <summary>Parses the bare base58btc form ("Qm...", no multibase prefix), as <see cref="ToString"/> writes it.</summary>
    /// <exception cref="MultihashException">Not base58 or not a valid multihash.</exception>
    public static Multihash Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        // Bound the quadratic base58 decode: 9 + 9 + MaxDigestLength bytes need fewer than 1.37 characters each.
        if (text.Length > (MaxDigestLength + 2 * Varint.MaxLength) * 137 / 100 + 1)
            throw new MultihashException("text is too long to be a multihash");
        byte[] bytes;
        try
        {
            bytes = Base58.Decode(text);
        }
        catch (MultibaseException e)
        {
            throw new MultihashException(e.Message);
        }
        return Decode(bytes);
    }

    /// <summary>Base58btc of the encoding, without a multibase prefix (the legacy form of hashes and peer ids).</summary>
    public override string ToString() => Base58.Encode(_encoded);

    public bool Equals(Multihash? other) => other is not null && _encoded.AsSpan().SequenceEqual(other._encoded);
    public override bool Equals(object? obj) => Equals(obj as Multihash);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_encoded);
        return hash.ToHashCode();
    }

    public static bool operator ==(Multihash? left, Multihash? right) => left is null ? right is null : left.Equals(right);
    public static bool operator !=(Multihash? left, Multihash? right) => !(left == right);
}
