namespace P2PStack.Encoding;

/// <summary>Base58 with the Bitcoin alphabet (multibase 'z'); each leading zero byte is one leading '1'.</summary>
public static class Base58
{
    public const string Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    /// <summary>The Flickr variant (multibase 'Z'): same digits, lowercase before uppercase.</summary>
    public const string FlickrAlphabet = "123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

    internal static readonly BaseXCodec Btc = new("base58btc", Alphabet, ignoreCase: false);
    internal static readonly BaseXCodec Flickr = new("base58flickr", FlickrAlphabet, ignoreCase: false);

    public static string Encode(ReadOnlySpan<byte> data) => Btc.Encode(data);

    /// <summary>Decodes Bitcoin-alphabet base58. Quadratic in the length: bound untrusted input first.</summary>
    /// <exception cref="MultibaseException">A character outside the alphabet.</exception>
    public static byte[] Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Btc.Decode(text);
    }

    /// <inheritdoc cref="Decode(string)"/>
    public static byte[] Decode(ReadOnlySpan<char> text) => Btc.Decode(text);
}
