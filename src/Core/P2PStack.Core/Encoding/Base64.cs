namespace P2PStack.Encoding;

/// <summary>
/// RFC 4648 base64 and base64url, with or without '=' padding. Unlike <see cref="Convert.FromBase64String"/>, decoding
/// is strict: no whitespace, padding exactly as asked, and nonzero trailing bits are rejected (RFC 4648 §3.5).
/// </summary>
public static class Base64
{
    private const string StandardAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    private const string UrlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    private static readonly BitPackedCodec Standard = new("base64", StandardAlphabet, ignoreCase: false);
    private static readonly BitPackedCodec Url = new("base64url", UrlAlphabet, ignoreCase: false);

    public static string Encode(ReadOnlySpan<byte> data, bool pad = false) => pad ? Convert.ToBase64String(data) : Standard.Encode(data, pad: false);
    public static string EncodeUrl(ReadOnlySpan<byte> data, bool pad = false) => Url.Encode(data, pad);

    /// <exception cref="MultibaseException">Invalid character, wrong padding, impossible length or nonzero trailing bits.</exception>
    public static byte[] Decode(ReadOnlySpan<char> text, bool padded = false) => Standard.Decode(text, padded);

    /// <inheritdoc cref="Decode(ReadOnlySpan{char}, bool)"/>
    public static byte[] DecodeUrl(ReadOnlySpan<char> text, bool padded = false) => Url.Decode(text, padded);
}
