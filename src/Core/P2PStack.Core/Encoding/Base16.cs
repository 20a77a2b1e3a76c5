namespace P2PStack.Encoding;

/// <summary>Hexadecimal (multibase 'f'/'F'). Decoding is strict about length, characters and (if asked) case.</summary>
public static class Base16
{
    private static readonly BitPackedCodec Lower = new("base16", "0123456789abcdef", ignoreCase: false);
    private static readonly BitPackedCodec Upper = new("base16upper", "0123456789ABCDEF", ignoreCase: false);
    private static readonly BitPackedCodec AnyCase = new("base16", "0123456789abcdef", ignoreCase: true);

    public static string EncodeLower(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(data);
    public static string EncodeUpper(ReadOnlySpan<byte> data) => Convert.ToHexString(data);

    /// <exception cref="MultibaseException">Odd length or a non-hex character (or one of the wrong case).</exception>
    public static byte[] Decode(ReadOnlySpan<char> text, LetterCase letterCase = LetterCase.Lower)
        => Base32.Pick(letterCase, Lower, Upper, AnyCase).Decode(text, padded: false);
}
