namespace P2PStack.Addressing.Codecs;

/// <summary>
/// RFC 4648-style base32/base64 with a chosen alphabet, as Go's encoding/base32 and encoding/base64 decode it
/// (unused trailing bits are not checked). Kept here because the Tor and I2P alphabets and padding rules
/// differ from multibase's.
/// </summary>
internal sealed class RadixAlphabet
{
    private readonly string alphabet;
    private readonly sbyte[] lookup = new sbyte[128];
    private readonly int bitsPerChar;

    public RadixAlphabet(string alphabet, bool ignoreCase)
    {
        this.alphabet = alphabet;
        bitsPerChar = alphabet.Length == 32 ? 5 : 6;
        Array.Fill(lookup, (sbyte)-1);
        for (int i = 0; i < alphabet.Length; i++)
        {
            lookup[alphabet[i]] = (sbyte)i;
            if (ignoreCase) lookup[char.ToUpperInvariant(alphabet[i])] = lookup[char.ToLowerInvariant(alphabet[i])] = (sbyte)i;
        }
    }

    /// <summary>Characters needed for <paramref name="byteCount"/> bytes without padding.</summary>
    public int EncodedLength(int byteCount) => (byteCount * 8 + bitsPerChar - 1) / bitsPerChar;

    /// <summary>Decodes unpadded text; a final partial group that cannot hold a whole byte is an error.</summary>
    public byte[] Decode(ReadOnlySpan<char> text)
    {
        int leftoverBits = text.Length * bitsPerChar % 8;
        if (leftoverBits >= bitsPerChar) throw new MultiaddrException($"encoded length {text.Length} is impossible");
        var result = new byte[text.Length * bitsPerChar / 8];
        int buffer = 0, bits = 0, index = 0;
        foreach (char c in text)
        {
            int value = c < 128 ? lookup[c] : -1;
            if (value < 0) throw new MultiaddrException($"character '{c}' is not in the alphabet");
            buffer = (buffer << bitsPerChar) | value;
            bits += bitsPerChar;
            if (bits >= 8)
            {
                bits -= 8;
                result[index++] = (byte)(buffer >> bits);
                buffer &= (1 << bits) - 1;
            }
        }
        return result;
    }

    /// <summary>Encodes without padding.</summary>
    public string Encode(ReadOnlySpan<byte> data)
    {
        var chars = new char[EncodedLength(data.Length)];
        int buffer = 0, bits = 0, index = 0;
        foreach (byte b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= bitsPerChar)
            {
                bits -= bitsPerChar;
                chars[index++] = alphabet[(buffer >> bits) & ((1 << bitsPerChar) - 1)];
            }
            buffer &= (1 << bits) - 1;
        }
        if (bits > 0) chars[index] = alphabet[(buffer << (bitsPerChar - bits)) & ((1 << bitsPerChar) - 1)];
        return new string(chars);
    }
}
