namespace P2PStack.Encoding;

/// <summary>Base36 [0-9a-z] as multibase defines it ('k'/'K'): a big-endian number, each leading zero byte one '0'.</summary>
public static class Base36
{
    private const string LowerAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
    private const string UpperAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    private static readonly BaseXCodec Lower = new("base36", LowerAlphabet, ignoreCase: false);
    private static readonly BaseXCodec Upper = new("base36upper", UpperAlphabet, ignoreCase: false);
    private static readonly BaseXCodec AnyCase = new("base36", LowerAlphabet, ignoreCase: true);

    public static string EncodeLower(ReadOnlySpan<byte> data) => Lower.Encode(data);
    public static string EncodeUpper(ReadOnlySpan<byte> data) => Upper.Encode(data);

    /// <summary>Decodes base36 whose letters are in <paramref name="letterCase"/> (lowercase by default).</summary>
    /// <exception cref="MultibaseException">A character outside the alphabet (or of the wrong case).</exception>
    public static byte[] Decode(ReadOnlySpan<char> text, LetterCase letterCase = LetterCase.Lower) => letterCase switch
    {
        LetterCase.Lower => Lower.Decode(text),
        LetterCase.Upper => Upper.Decode(text),
        LetterCase.Insensitive => AnyCase.Decode(text),
        _ => throw new ArgumentOutOfRangeException(nameof(letterCase)),
    };

    /// <inheritdoc cref="Decode(ReadOnlySpan{char}, LetterCase)"/>
    public static byte[] Decode(string text, LetterCase letterCase = LetterCase.Lower)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Decode(text.AsSpan(), letterCase);
    }
}
