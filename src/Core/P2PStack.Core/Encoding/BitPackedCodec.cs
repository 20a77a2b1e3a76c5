namespace P2PStack.Encoding;

/// <summary>
/// RFC 4648-style codec for bases of 2^k (k = 1..6): the input is read as one big-endian bit string, k bits per
/// character, and the last character is zero-filled. Decoding is strict: unknown characters, a character count no
/// encoding produces, misplaced or wrong-sized '=' padding and nonzero fill bits (RFC 4648 §3.5) are all rejected.
/// </summary>
internal sealed class BitPackedCodec
{
    private const char Pad = '=';
    private readonly string _alphabet;
    private readonly sbyte[] _decodeMap = new sbyte[128];
    private readonly int _bitsPerChar;
    private readonly int _blockChars;

    /// <summary>Name used in error messages.</summary>
    public string Name { get; }

    /// <param name="alphabet">Characters used when encoding, in value order.</param>
    /// <param name="ignoreCase">Decoder also accepts the other case of every letter.</param>
    public BitPackedCodec(string name, string alphabet, bool ignoreCase)
    {
        Name = name;
        _alphabet = alphabet;
        _bitsPerChar = System.Numerics.BitOperations.Log2((uint)alphabet.Length);
        if (1 << _bitsPerChar != alphabet.Length || _bitsPerChar > 6) throw new ArgumentException("alphabet size must be 2..64, a power of two", nameof(alphabet));
        // Padding fills to a whole number of bytes and characters: lcm(8, k) bits.
        _blockChars = Lcm(8, _bitsPerChar) / _bitsPerChar;
        Array.Fill(_decodeMap, (sbyte)-1);
        for (int i = 0; i < alphabet.Length; i++)
        {
            char c = alphabet[i];
            _decodeMap[c] = (sbyte)i;
            if (ignoreCase && char.IsAsciiLetter(c))
            {
                _decodeMap[char.ToLowerInvariant(c)] = (sbyte)i;
                _decodeMap[char.ToUpperInvariant(c)] = (sbyte)i;
            }
        }
    }

    private static int Lcm(int a, int b)
    {
        int x = a, y = b;
        while (y != 0) (x, y) = (y, x % y);
        return a / x * b;
    }

    public int GetEncodedLength(int byteCount, bool pad)
    {
        long chars = ((long)byteCount * 8 + _bitsPerChar - 1) / _bitsPerChar;
        if (pad) chars = (chars + _blockChars - 1) / _blockChars * _blockChars;
        if (chars > int.MaxValue) throw new ArgumentException("input too large to encode");
        return (int)chars;
    }

    public string Encode(ReadOnlySpan<byte> data, bool pad)
    {
        int length = GetEncodedLength(data.Length, pad);
        if (length == 0) return string.Empty;
        // The span cannot cross into string.Create's callback, so write through a pinned copy of the reference.
        unsafe
        {
            fixed (byte* p = data)
            {
                return string.Create(length, (Codec: this, Ptr: (IntPtr)p, Len: data.Length),
                    static (dest, s) => s.Codec.EncodeInto(new ReadOnlySpan<byte>((void*)s.Ptr, s.Len), dest));
            }
        }
    }

    /// <summary>Encodes into <paramref name="destination"/>, which must be exactly <see cref="GetEncodedLength"/> long.</summary>
    public void EncodeInto(ReadOnlySpan<byte> data, Span<char> destination)
    {
        int mask = (1 << _bitsPerChar) - 1;
        int buffer = 0, bits = 0, o = 0;
        foreach (byte b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= _bitsPerChar)
            {
                bits -= _bitsPerChar;
                destination[o++] = _alphabet[(buffer >> bits) & mask];
            }
            buffer &= (1 << bits) - 1;
        }
        if (bits > 0) destination[o++] = _alphabet[(buffer << (_bitsPerChar - bits)) & mask];
        while (o < destination.Length) destination[o++] = Pad;
    }

    public byte[] Decode(ReadOnlySpan<char> text, bool padded)
    {
        int dataChars = text.Length;
        if (padded)
        {
            if (text.Length % _blockChars != 0)
                throw new MultibaseException($"{Name}: padded text length {text.Length} is not a multiple of {_blockChars}");
            while (dataChars > 0 && text[dataChars - 1] == Pad) dataChars--;
            int expected = GetEncodedLength(dataChars * _bitsPerChar / 8, pad: true);
            if (text.Length - dataChars >= _blockChars || expected != text.Length)
                throw new MultibaseException($"{Name}: wrong amount of '=' padding");
        }
        // Leftover bits after the last whole byte must be fewer than one character, or the count is impossible.
        int leftover = (int)((long)dataChars * _bitsPerChar % 8);
        if (leftover >= _bitsPerChar)
            throw new MultibaseException($"{Name}: {dataChars} characters is not a valid encoded length");

        var result = new byte[(int)((long)dataChars * _bitsPerChar / 8)];
        int buffer = 0, bits = 0, o = 0;
        for (int i = 0; i < dataChars; i++)
        {
            char c = text[i];
            int value = c < 128 ? _decodeMap[c] : -1;
            if (value < 0)
                throw new MultibaseException(c == Pad
                    ? $"{Name}: unexpected '=' at position {i}"
                    : $"{Name}: invalid character '{Printable(c)}' at position {i}");
            buffer = (buffer << _bitsPerChar) | value;
            bits += _bitsPerChar;
            if (bits >= 8)
            {
                bits -= 8;
                result[o++] = (byte)(buffer >> bits);
                buffer &= (1 << bits) - 1;
            }
        }
        if (buffer != 0) throw new MultibaseException($"{Name}: nonzero trailing bits (non-canonical encoding)");
        return result;
    }

    internal static string Printable(char c) => char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString();
}
