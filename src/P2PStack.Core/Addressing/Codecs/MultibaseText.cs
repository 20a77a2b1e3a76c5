using P2PStack.Encoding;

namespace P2PStack.Addressing.Codecs;

/// <summary>
/// Multibase-prefixed text to bytes, for /certhash values and CID peer ids. Uses the base codecs of
/// P2PStack.Encoding; the bases are those go-multibase decodes that can appear in a multiaddr segment.
/// </summary>
internal static class MultibaseText
{
    public static byte[] Decode(string text)
    {
        if (text.Length == 0) throw new MultiaddrException("multibase text is empty");
        ReadOnlySpan<char> data = text.AsSpan(1);
        return text[0] switch
        {
            'f' or 'F' => Base16.Decode(data, LetterCase.Insensitive),
            'b' or 'B' => Base32.Decode(data, LetterCase.Insensitive),
            'c' or 'C' => Base32.Decode(data, LetterCase.Insensitive, padded: true),
            'v' or 'V' => Base32.DecodeHex(data, LetterCase.Insensitive),
            't' or 'T' => Base32.DecodeHex(data, LetterCase.Insensitive, padded: true),
            'k' or 'K' => Base36.Decode(data, LetterCase.Insensitive),
            'z' => Base58.Decode(data),
            'Z' => Base58.Flickr.Decode(data),
            'm' => Base64.Decode(data),
            'M' => Base64.Decode(data, padded: true),
            'u' => Base64.DecodeUrl(data),
            'U' => Base64.DecodeUrl(data, padded: true),
            '9' => Base10.Decode(data),
            _ => throw new MultiaddrException($"unsupported multibase prefix '{text[0]}'"),
        };
    }
}
