using P2PStack.Encoding;

namespace P2PStack.Addressing.Codecs;

/// <summary>
/// /p2p (alias /ipfs): a peer id multihash, sha2-256 (32-byte digest) or identity. Text in: base58btc multihash
/// ("Qm…", "1…") or a CIDv1 with the libp2p-key codec in any multibase. Text out: base58btc.
/// </summary>
internal sealed class P2PCodec : MultiaddrValueCodec
{
    public static readonly P2PCodec Instance = new();
    private const ulong Libp2pKeyCodec = 0x72;
    // Bounds the quadratic base-N decoders: no valid peer id text comes near this.
    private const int MaxTextLength = 2048;

    public override byte[] Parse(string text)
    {
        if (text.Length > MaxTextLength) throw Error($"peer id text is longer than {MaxTextLength} characters");
        byte[] multihash = text.StartsWith("Qm", StringComparison.Ordinal) || text.StartsWith('1')
            ? Base58.Decode(text)
            : MultihashOfCid(text);
        Validate(multihash);
        return multihash;
    }

    private static byte[] MultihashOfCid(string text)
    {
        Cid cid = Cid.Parse(text);
        if (cid.Codec != Libp2pKeyCodec) throw Error($"peer id CID has codec 0x{cid.Codec:x}, expected libp2p-key (0x72)");
        return cid.Hash.ToBytes();
    }

    public override string Format(ReadOnlySpan<byte> value) => Base58.Encode(value);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        Multihash hash = Multihash.Decode(value);
        if (hash.Code == MultihashCode.Sha2_256)
        {
            if (hash.Digest.Length != 32) throw Error($"sha2-256 peer id digest has {hash.Digest.Length} bytes, expected 32");
        }
        else if (hash.Code != MultihashCode.Identity)
        {
            throw Error($"peer id multihash code 0x{hash.Code:x} is neither sha2-256 nor identity");
        }
    }
}

/// <summary>/certhash: a multihash of a TLS certificate. Text in: any multibase; text out: base64url ('u').</summary>
internal sealed class CertHashCodec : MultiaddrValueCodec
{
    public static readonly CertHashCodec Instance = new();
    private const int MaxTextLength = 4096;
    private const int MaxDecodedLength = Multihash.MaxDigestLength + 2 * Varint.MaxLength;

    public override byte[] Parse(string text)
    {
        if (text.Length > MaxTextLength) throw Error($"certhash text is longer than {MaxTextLength} characters");
        byte[] bytes = Multibase.Decode(text, out _, MaxDecodedLength);
        Validate(bytes);
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) => "u" + Base64.EncodeUrl(value);

    public override void Validate(ReadOnlySpan<byte> value) => Multihash.Decode(value);
}
