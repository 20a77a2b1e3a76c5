namespace P2PStack.Encoding;

/// <summary>
/// Multibase (multiformats/multibase): a one-character prefix naming the base, then the data in that base.
/// Decoders of case-carrying bases (16, 32, 32hex, 36) accept either case, as the spec's case-insensitivity vectors
/// require; padded variants require correct '=' padding and unpadded ones reject it; nonzero trailing bits are
/// rejected. Not supported: identity (a NUL prefix cannot carry raw bytes in text), base45, base256emoji, proquint.
/// </summary>
public static class Multibase
{
    private static readonly BitPackedCodec Base2Codec = new("base2", "01", ignoreCase: false);
    private static readonly BitPackedCodec Base8Codec = new("base8", "01234567", ignoreCase: false);
    private static readonly BitPackedCodec Base32ZCodec = new("base32z", "ybndrfg8ejkmcpqxot1uwisza345h769", ignoreCase: false);

    /// <summary>True for the encodings in <see cref="MultibaseEncoding"/>.</summary>
    public static bool IsSupported(MultibaseEncoding encoding) => Enum.IsDefined(encoding);

    /// <summary>Prefix character plus <paramref name="data"/> in <paramref name="encoding"/>.</summary>
    public static string Encode(MultibaseEncoding encoding, ReadOnlySpan<byte> data)
    {
        string body = encoding switch
        {
            MultibaseEncoding.Base2 => Base2Codec.Encode(data, pad: false),
            MultibaseEncoding.Base8 => Base8Codec.Encode(data, pad: false),
            MultibaseEncoding.Base10 => Base10.Encode(data),
            MultibaseEncoding.Base16 => Base16.EncodeLower(data),
            MultibaseEncoding.Base16Upper => Base16.EncodeUpper(data),
            MultibaseEncoding.Base32Hex => Base32.EncodeHexLower(data),
            MultibaseEncoding.Base32HexUpper => Base32.EncodeHexUpper(data),
            MultibaseEncoding.Base32HexPad => Base32.EncodeHexLower(data, pad: true),
            MultibaseEncoding.Base32HexPadUpper => Base32.EncodeHexUpper(data, pad: true),
            MultibaseEncoding.Base32 => Base32.EncodeLower(data),
            MultibaseEncoding.Base32Upper => Base32.EncodeUpper(data),
            MultibaseEncoding.Base32Pad => Base32.EncodeLower(data, pad: true),
            MultibaseEncoding.Base32PadUpper => Base32.EncodeUpper(data, pad: true),
            MultibaseEncoding.Base32Z => Base32ZCodec.Encode(data, pad: false),
            MultibaseEncoding.Base36 => Base36.EncodeLower(data),
            MultibaseEncoding.Base36Upper => Base36.EncodeUpper(data),
            MultibaseEncoding.Base58Btc => Base58.Btc.Encode(data),
            MultibaseEncoding.Base58Flickr => Base58.Flickr.Encode(data),
            MultibaseEncoding.Base64 => Base64.Encode(data),
            MultibaseEncoding.Base64Pad => Base64.Encode(data, pad: true),
            MultibaseEncoding.Base64Url => Base64.EncodeUrl(data),
            MultibaseEncoding.Base64UrlPad => Base64.EncodeUrl(data, pad: true),
            _ => throw new ArgumentOutOfRangeException(nameof(encoding), $"unsupported multibase encoding {(int)encoding}"),
        };
        return string.Concat(((char)encoding).ToString(), body);
    }

    /// <summary>Decodes multibase text of any supported encoding.</summary>
    /// <exception cref="MultibaseException">Empty, unknown prefix, or a body invalid for its base.</exception>
    public static byte[] Decode(string text) => Decode(text, out _);

    /// <inheritdoc cref="Decode(string)"/>
    public static byte[] Decode(string text, out MultibaseEncoding encoding) => Decode(text, out encoding, int.MaxValue);

    /// <summary>
    /// Decodes multibase text, first rejecting text too long to hold at most <paramref name="maxDecodedLength"/>
    /// bytes, and any result longer than that — use this for untrusted input, since the base58/36/10 decoders take
    /// time quadratic in the length.
    /// </summary>
    /// <exception cref="MultibaseException">Empty, unknown prefix, too long, or a body invalid for its base.</exception>
    public static byte[] Decode(string text, out MultibaseEncoding encoding, int maxDecodedLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegative(maxDecodedLength);
        if (text.Length == 0) throw new MultibaseException("multibase text is empty");
        char prefix = text[0];
        encoding = (MultibaseEncoding)prefix;
        if (!IsSupported(encoding))
            throw new MultibaseException(prefix == '\0'
                ? "identity multibase (NUL prefix) is not supported in text"
                : $"unknown or unsupported multibase prefix '{BitPackedCodec.Printable(prefix)}'");
        if (maxDecodedLength != int.MaxValue && text.Length - 1 > GetMaxEncodedLength(encoding, maxDecodedLength))
            throw new MultibaseException($"multibase text of {text.Length} characters exceeds the {maxDecodedLength}-byte limit");

        byte[] decoded = DecodeBody(encoding, text.AsSpan(1));
        if (decoded.Length > maxDecodedLength)
            throw new MultibaseException($"multibase data of {decoded.Length} bytes exceeds the {maxDecodedLength}-byte limit");
        return decoded;
    }

    private static byte[] DecodeBody(MultibaseEncoding encoding, ReadOnlySpan<char> body)
    {
        return encoding switch
        {
            MultibaseEncoding.Base2 => Base2Codec.Decode(body, padded: false),
            MultibaseEncoding.Base8 => Base8Codec.Decode(body, padded: false),
            MultibaseEncoding.Base10 => Base10.Decode(body),
            MultibaseEncoding.Base16 or MultibaseEncoding.Base16Upper => Base16.Decode(body, LetterCase.Insensitive),
            MultibaseEncoding.Base32Hex or MultibaseEncoding.Base32HexUpper => Base32.DecodeHex(body, LetterCase.Insensitive),
            MultibaseEncoding.Base32HexPad or MultibaseEncoding.Base32HexPadUpper => Base32.DecodeHex(body, LetterCase.Insensitive, padded: true),
            MultibaseEncoding.Base32 or MultibaseEncoding.Base32Upper => Base32.Decode(body, LetterCase.Insensitive),
            MultibaseEncoding.Base32Pad or MultibaseEncoding.Base32PadUpper => Base32.Decode(body, LetterCase.Insensitive, padded: true),
            MultibaseEncoding.Base32Z => Base32ZCodec.Decode(body, padded: false),
            MultibaseEncoding.Base36 or MultibaseEncoding.Base36Upper => Base36.Decode(body, LetterCase.Insensitive),
            MultibaseEncoding.Base58Btc => Base58.Btc.Decode(body),
            MultibaseEncoding.Base58Flickr => Base58.Flickr.Decode(body),
            MultibaseEncoding.Base64 => Base64.Decode(body),
            MultibaseEncoding.Base64Pad => Base64.Decode(body, padded: true),
            MultibaseEncoding.Base64Url => Base64.DecodeUrl(body),
            MultibaseEncoding.Base64UrlPad => Base64.DecodeUrl(body, padded: true),
            _ => throw new MultibaseException($"unsupported multibase encoding {(int)encoding}"),
        };
    }

    /// <summary>Upper bound on the body length (without prefix) of <paramref name="byteCount"/> bytes in <paramref name="encoding"/>.</summary>
    public static long GetMaxEncodedLength(MultibaseEncoding encoding, int byteCount)
    {
        long n = byteCount;
        return encoding switch
        {
            MultibaseEncoding.Base2 => n * 8,
            MultibaseEncoding.Base8 => (n * 8 + 2) / 3,
            // log(256)/log(10) = 2.408, /log(36) = 1.548, /log(58) = 1.366; +1 for rounding.
            MultibaseEncoding.Base10 => n * 2409 / 1000 + 1,
            MultibaseEncoding.Base16 or MultibaseEncoding.Base16Upper => n * 2,
            MultibaseEncoding.Base36 or MultibaseEncoding.Base36Upper => n * 1548 / 1000 + 1,
            MultibaseEncoding.Base58Btc or MultibaseEncoding.Base58Flickr => n * 1366 / 1000 + 1,
            MultibaseEncoding.Base64 or MultibaseEncoding.Base64Url or MultibaseEncoding.Base64Pad or MultibaseEncoding.Base64UrlPad => (n + 2) / 3 * 4,
            _ => (n + 4) / 5 * 8, // every base32 flavour, padded or not
        };
    }
}
