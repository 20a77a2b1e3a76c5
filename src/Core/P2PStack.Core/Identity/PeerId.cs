using System.Diagnostics.CodeAnalysis;
using P2PStack.Encoding;

namespace P2PStack.Identity;

/// <summary>
/// A libp2p peer id: the multihash of the peer's encoded public key — identity (the key inlined) when the encoding
/// is at most 42 bytes, sha2-256 otherwise. Text form is bare base58btc; CIDv1 (codec libp2p-key) is also parsed.
/// </summary>
public sealed class PeerId : IEquatable<PeerId>, IComparable<PeerId>
{
    /// <summary>Longest encoded public key that is inlined with the identity multihash.</summary>
    public const int MaxInlineKeyLength = 42;

    // Bounds on text input, checked before decoding: base58 decoding is quadratic.
    private const int MaxBase58Length = 64;   // 44-byte identity multihash -> at most 61 characters
    private const int MaxCidTextLength = 512; // a 46-byte CID even in base2 is 369 characters

    private readonly byte[] _bytes;
    private readonly PublicKey? _inlinedKey;
    private string? _text;

    private PeerId(byte[] bytes, PublicKey? inlinedKey)
    {
        _bytes = bytes;
        _inlinedKey = inlinedKey;
    }

    /// <summary>The binary multihash.</summary>
    public ReadOnlyMemory<byte> Bytes => _bytes;

    public byte[] ToBytes() => (byte[])_bytes.Clone();

    /// <summary>Derives the peer id of <paramref name="key"/>.</summary>
    public static PeerId FromPublicKey(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        byte[] encoded = key.ProtobufBytes;
        return encoded.Length <= MaxInlineKeyLength
            ? new PeerId(Multihash.Identity(encoded).ToBytes(), key)
            : new PeerId(Multihash.Sha2_256(encoded).ToBytes(), null);
    }

    /// <summary>
    /// Validates and wraps a binary peer id: a sha2-256 multihash with a 32-byte digest, or an identity multihash of
    /// at most 42 bytes holding a canonical libp2p public key.
    /// </summary>
    /// <exception cref="PeerIdException">Anything else.</exception>
    public static PeerId FromBytes(ReadOnlySpan<byte> multihash)
    {
        Multihash hash;
        try { hash = Multihash.Decode(multihash); }
        catch (MultihashException e) { throw new PeerIdException($"peer id is not a valid multihash: {e.Message}", e); }

        if (hash.Code == MultihashCode.Sha2_256)
        {
            if (hash.Digest.Length != 32) throw new PeerIdException($"sha2-256 peer id must have a 32-byte digest, got {hash.Digest.Length}");
            return new PeerId(multihash.ToArray(), null);
        }
        if (hash.Code != MultihashCode.Identity)
            throw new PeerIdException($"peer id uses multihash function 0x{hash.Code:x}; only identity and sha2-256 are allowed");

        var digest = hash.Digest.Span;
        if (digest.Length > MaxInlineKeyLength)
            throw new PeerIdException($"identity peer id inlines {digest.Length} bytes; keys longer than {MaxInlineKeyLength} bytes must be hashed");
        PublicKey key;
        try { key = PublicKey.FromProtobuf(digest); }
        catch (KeyFormatException e) { throw new PeerIdException($"identity peer id does not hold a valid public key: {e.Message}", e); }
        if (!key.ProtobufBytes.AsSpan().SequenceEqual(digest))
            throw new PeerIdException("identity peer id holds a public key in a non-canonical encoding");
        return new PeerId(multihash.ToArray(), key);
    }

    /// <summary>
    /// Parses the text form: bare base58btc multihash (starting "1" or "Qm", per the spec) or a multibase CIDv1
    /// with the libp2p-key codec ("bafz...", "k51...").
    /// </summary>
    /// <exception cref="PeerIdException">Not a valid peer id.</exception>
    public static PeerId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) throw new PeerIdException("peer id text is empty");
        if (text[0] == '1' || text.StartsWith("Qm", StringComparison.Ordinal))
        {
            if (text.Length > MaxBase58Length) throw new PeerIdException($"base58 peer id is {text.Length} characters, more than {MaxBase58Length}");
            byte[] bytes;
            try { bytes = Base58.Decode(text); }
            catch (MultibaseException e) { throw new PeerIdException($"peer id is not valid base58btc: {e.Message}", e); }
            var id = FromBytes(bytes);
            id._text = text;
            return id;
        }
        if (text.Length > MaxCidTextLength) throw new PeerIdException($"peer id CID text is {text.Length} characters, more than {MaxCidTextLength}");
        Cid cid;
        try { cid = Cid.Parse(text); }
        catch (CidException e) { throw new PeerIdException($"peer id is neither base58btc nor a valid CID: {e.Message}", e); }
        if (cid.Version != 1 || cid.Codec != Multicodec.Libp2pKey)
            throw new PeerIdException($"CID has codec 0x{cid.Codec:x} ({Multicodec.Name(cid.Codec) ?? "unknown"}); a peer id CID must use libp2p-key (0x72)");
        return FromBytes(cid.Hash.Encoded.Span);
    }

    /// <summary>Like <see cref="Parse"/> but returns false for invalid text.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out PeerId? peerId)
    {
        peerId = null;
        if (text is null) return false;
        try
        {
            peerId = Parse(text);
            return true;
        }
        catch (PeerIdException)
        {
            return false;
        }
    }

    /// <summary>The inlined public key of an identity peer id; null for hashed ids (the key must come from elsewhere).</summary>
    public PublicKey? TryGetPublicKey() => _inlinedKey;

    /// <summary>Whether this is the peer id of <paramref name="key"/>.</summary>
    public bool Matches(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _inlinedKey is not null ? _inlinedKey.Equals(key) : FromPublicKey(key).Equals(this);
    }

    /// <summary>Canonical text form: bare base58btc multihash.</summary>
    public override string ToString() => _text ??= Base58.Encode(_bytes);

    /// <summary>CIDv1 with the libp2p-key codec, base32 by default ("bafz...").</summary>
    public string ToCidString(MultibaseEncoding encoding = MultibaseEncoding.Base32) =>
        Cid.V1(Multicodec.Libp2pKey, Multihash.Decode(_bytes)).ToString(encoding);

    public bool Equals(PeerId? other) => other is not null && (ReferenceEquals(this, other) || _bytes.AsSpan().SequenceEqual(other._bytes));

    public override bool Equals(object? obj) => Equals(obj as PeerId);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    /// <summary>Orders by the binary multihash (as go-libp2p sorts ids).</summary>
    public int CompareTo(PeerId? other) => other is null ? 1 : _bytes.AsSpan().SequenceCompareTo(other._bytes);

    public static bool operator ==(PeerId? left, PeerId? right) => left is null ? right is null : left.Equals(right);
    public static bool operator !=(PeerId? left, PeerId? right) => !(left == right);
}
