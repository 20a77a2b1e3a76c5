namespace P2PStack.Encoding;

/// <summary>Decimal as multibase defines it ('9'): a big-endian number, each leading zero byte one '0'.</summary>
public static class Base10
{
    internal static readonly BaseXCodec Codec = new("base10", "0123456789", ignoreCase: false);

    public static string Encode(ReadOnlySpan<byte> data) => Codec.Encode(data);

    /// <exception cref="MultibaseException">A character that is not a decimal digit.</exception>
    public static byte[] Decode(ReadOnlySpan<char> text) => Codec.Decode(text);
}
