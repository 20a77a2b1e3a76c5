namespace P2PStack.Encoding;

/// <summary>
/// RFC 4648 base32 (alphabet a-z2-7) and base32hex (0-9a-v). Encoders omit '=' padding unless asked; decoders are
/// strict (see <see cref="Decode(ReadOnlySpan{char}, LetterCase, bool)"/>).
/// </summary>
public static class Base32
{
    private const string LowerAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
    private const string HexLowerAlphabet = "0123456789abcdefghijklmnopqrstuv";

    private static readonly BitPackedCodec Lower = new("base32", LowerAlphabet, ignoreCase: false);
    private static readonly BitPackedCodec Upper = new("base32upper", LowerAlphabet.ToUpperInvariant(), ignoreCase: false);
    private static readonly BitPackedCodec AnyCase = new("base32", LowerAlphabet, ignoreCase: true);
    private static readonly BitPackedCodec HexLower = new("base32hex", HexLowerAlphabet, ignoreCase: false);
    private static readonly BitPackedCodec HexUpper = new("base32hexupper", HexLowerAlphabet.ToUpperInvariant(), ignoreCase: false);
    private static readonly BitPackedCodec HexAnyCase = new("base32hex", HexLowerAlphabet, ignoreCase: true);

    public static string EncodeLower(ReadOnlySpan<byte> data, bool pad = false) => Lower.Encode(data, pad);
    public static string EncodeUpper(ReadOnlySpan<byte> data, bool pad = false) => Upper.Encode(data, pad);

    /// <summary>Decodes unpadded lowercase base32, the form CIDs and multibase 'b' use.</summary>
    /// <exception cref="MultibaseException">Invalid character, impossible length or nonzero trailing bits.</exception>
    public static byte[] Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Lower.Decode(text, padded: false);
    }

    /// <summary>
    /// Decodes base32 whose letters are in <paramref name="letterCase"/>. With <paramref name="padded"/> the text must
    /// be padded with '=' to a multiple of 8 characters; without it, '=' is rejected.
    /// </summary>
    /// <exception cref="MultibaseException">Invalid character, wrong padding, impossible length or nonzero trailing bits.</exception>
    public static byte[] Decode(ReadOnlySpan<char> text, LetterCase letterCase, bool padded = false)
        => Pick(letterCase, Lower, Upper, AnyCase).Decode(text, padded);

    public static string EncodeHexLower(ReadOnlySpan<byte> data, bool pad = false) => HexLower.Encode(data, pad);
    public static string EncodeHexUpper(ReadOnlySpan<byte> data, bool pad = false) => HexUpper.Encode(data, pad);

    /// <summary>Decodes RFC 4648 §7 base32hex; same rules as <see cref="Decode(ReadOnlySpan{char}, LetterCase, bool)"/>.</summary>
    public static byte[] DecodeHex(ReadOnlySpan<char> text, LetterCase letterCase, bool padded = false)
        => Pick(letterCase, HexLower, HexUpper, HexAnyCase).Decode(text, padded);

    internal static BitPackedCodec Pick(LetterCase letterCase, BitPackedCodec lower, BitPackedCodec upper, BitPackedCodec any) => letterCase switch
    {
        LetterCase.Lower => lower,
        LetterCase.Upper => upper,
        LetterCase.Insensitive => any,
        _ => throw new ArgumentOutOfRangeException(nameof(letterCase)),
    };
}
