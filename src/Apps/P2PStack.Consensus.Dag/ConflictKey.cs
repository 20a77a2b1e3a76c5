using System.Text;
using Utf8 = System.Text.UTF8Encoding;
using Google.Protobuf;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// An application-defined conflict key (for transactions: the input they spend). Vertices sharing a key conflict;
/// consensus accepts at most one of them. Compared bytewise; shown as text when it is printable UTF-8, else as 0x+hex.
/// </summary>
public sealed class ConflictKey : IEquatable<ConflictKey>, IComparable<ConflictKey>
{
    private readonly byte[] _bytes;
    private readonly int _hash;

    private ConflictKey(byte[] bytes)
    {
        _bytes = bytes;
        var hash = new HashCode();
        hash.AddBytes(bytes);
        _hash = hash.ToHashCode();
    }

    public ReadOnlyMemory<byte> Bytes => _bytes;

    public int Length => _bytes.Length;

    public static ConflictKey FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) throw new ArgumentException("a conflict key cannot be empty", nameof(bytes));
        return new ConflictKey(bytes.ToArray());
    }

    /// <summary>The key of a text (its UTF-8 bytes), as <c>p2p dag propose --conflict-key</c> takes it.</summary>
    public static ConflictKey FromText(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return new ConflictKey(System.Text.Encoding.UTF8.GetBytes(text));
    }

    internal ByteString ToByteString() => UnsafeByteOperations.UnsafeWrap(_bytes);

    public override string ToString()
    {
        try
        {
            string text = new Utf8(false, throwOnInvalidBytes: true).GetString(_bytes);
            if (text.All(c => !char.IsControl(c)) && !text.StartsWith("0x", StringComparison.Ordinal)) return text;
        }
        catch (DecoderFallbackException)
        {
        }
        return "0x" + Convert.ToHexStringLower(_bytes);
    }

    public bool Equals(ConflictKey? other) => other is not null && _hash == other._hash && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as ConflictKey);

    public override int GetHashCode() => _hash;

    public int CompareTo(ConflictKey? other) => other is null ? 1 : _bytes.AsSpan().SequenceCompareTo(other._bytes);
}
