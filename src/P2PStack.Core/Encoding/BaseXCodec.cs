using System.Buffers;

namespace P2PStack.Encoding;

/// <summary>
/// Big-number codec for bases that do not divide bytes evenly (58, 36, 10): the input is one big-endian integer
/// written in the base, and each leading zero byte becomes one leading zero digit. Quadratic in the input length,
/// which is fine for keys and hashes; callers decoding untrusted text bound its length first.
/// </summary>
internal sealed class BaseXCodec
{
    private const int StackLimit = 512;
    private readonly string _alphabet;
    private readonly sbyte[] _decodeMap = new sbyte[128];
    private readonly int _base;
    // Output size bounds, in thousandths: log(256)/log(base) digits per byte and the inverse.
    private readonly int _digitsPerByteMilli;
    private readonly int _bytesPerDigitMilli;

    public string Name { get; }

    public BaseXCodec(string name, string alphabet, bool ignoreCase)
    {
        Name = name;
        _alphabet = alphabet;
        _base = alphabet.Length;
        _digitsPerByteMilli = (int)Math.Ceiling(Math.Log(256) / Math.Log(_base) * 1000);
        _bytesPerDigitMilli = (int)Math.Ceiling(Math.Log(_base) / Math.Log(256) * 1000);
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

    public string Encode(ReadOnlySpan<byte> data)
    {
        int zeros = 0;
        while (zeros < data.Length && data[zeros] == 0) zeros++;
        int capacity = (int)(((long)(data.Length - zeros) * _digitsPerByteMilli + 999) / 1000) + 1;

        byte[]? rented = null;
        Span<byte> digits = capacity <= StackLimit ? stackalloc byte[capacity] : (rented = ArrayPool<byte>.Shared.Rent(capacity));
        digits = digits[..capacity];
        // Digits are accumulated little-endian from index 0; 'used' is how many are significant so far.
        int used = 0;
        for (int i = zeros; i < data.Length; i++)
        {
            int carry = data[i];
            for (int j = 0; j < used; j++)
            {
                carry += digits[j] << 8;
                digits[j] = (byte)(carry % _base);
                carry /= _base;
            }
            while (carry > 0)
            {
                digits[used++] = (byte)(carry % _base);
                carry /= _base;
            }
        }

        string result = CreateString(zeros, digits[..used]);
        if (rented != null) ArrayPool<byte>.Shared.Return(rented);
        return result;
    }

    private string CreateString(int zeros, ReadOnlySpan<byte> littleEndianDigits)
    {
        int length = zeros + littleEndianDigits.Length;
        char[]? rented = null;
        Span<char> chars = length <= StackLimit ? stackalloc char[length] : (rented = ArrayPool<char>.Shared.Rent(length));
        chars = chars[..length];
        chars[..zeros].Fill(_alphabet[0]);
        for (int i = 0; i < littleEndianDigits.Length; i++)
            chars[length - 1 - i] = _alphabet[littleEndianDigits[i]];
        string result = new(chars);
        if (rented != null) ArrayPool<char>.Shared.Return(rented);
        return result;
    }

    public byte[] Decode(ReadOnlySpan<char> text)
    {
        char zeroDigit = _alphabet[0];
        int zeros = 0;
        while (zeros < text.Length && text[zeros] == zeroDigit) zeros++;
        int capacity = (int)(((long)(text.Length - zeros) * _bytesPerDigitMilli + 999) / 1000) + 1;

        byte[]? rented = null;
        Span<byte> bytes = capacity <= StackLimit ? stackalloc byte[capacity] : (rented = ArrayPool<byte>.Shared.Rent(capacity));
        bytes = bytes[..capacity];
        int used = 0; // little-endian, as in Encode
        for (int i = zeros; i < text.Length; i++)
        {
            char c = text[i];
            int carry = c < 128 ? _decodeMap[c] : -1;
            if (carry < 0)
            {
                if (rented != null) ArrayPool<byte>.Shared.Return(rented);
                throw new MultibaseException($"{Name}: invalid character '{BitPackedCodec.Printable(c)}' at position {i}");
            }
            for (int j = 0; j < used; j++)
            {
                carry += bytes[j] * _base;
                bytes[j] = (byte)carry;
                carry >>= 8;
            }
            while (carry > 0)
            {
                bytes[used++] = (byte)carry;
                carry >>= 8;
            }
        }

        var result = new byte[zeros + used];
        for (int i = 0; i < used; i++) result[result.Length - 1 - i] = bytes[i];
        if (rented != null) ArrayPool<byte>.Shared.Return(rented);
        return result;
    }
}
