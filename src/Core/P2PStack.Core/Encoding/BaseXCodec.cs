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
    private readonly uint _limbBase;
    private readonly int _digitsPerLimb;

    public string Name { get; }

    public BaseXCodec(string name, string alphabet, bool ignoreCase)
    {
        Name = name;
        _alphabet = alphabet;
        _base = alphabet.Length;
        _digitsPerByteMilli = (int)Math.Ceiling(Math.Log(256) / Math.Log(_base) * 1000);
        _bytesPerDigitMilli = (int)Math.Ceiling(Math.Log(_base) / Math.Log(256) * 1000);
        // Largest power of the base below 2^32, used as the limb size while encoding.
        ulong limbBase = (ulong)_base;
        _digitsPerLimb = 1;
        while (limbBase * (ulong)_base <= uint.MaxValue) { limbBase *= (ulong)_base; _digitsPerLimb++; }
        _limbBase = (uint)limbBase;
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
        ReadOnlySpan<byte> number = data[zeros..];
        int digitCapacity = (int)(((long)number.Length * _digitsPerByteMilli + 999) / 1000) + 1;
        int limbCapacity = digitCapacity / _digitsPerLimb + 1;

        uint[]? rentedLimbs = null;
        Span<uint> limbs = limbCapacity <= StackLimit / 4 ? stackalloc uint[limbCapacity] : (rentedLimbs = ArrayPool<uint>.Shared.Rent(limbCapacity));
        // Limbs hold the number in base _limbBase (= base^_digitsPerLimb), little-endian; feeding three bytes per
        // step keeps the division count low, and limb * 2^24 + carry stays well inside 64 bits.
        int used = 0;
        for (int i = 0; i < number.Length; i += 3)
        {
            int take = Math.Min(3, number.Length - i);
            ulong carry = 0;
            for (int k = 0; k < take; k++) carry = (carry << 8) | number[i + k];
            int shift = take * 8;
            for (int j = 0; j < used; j++)
            {
                carry += (ulong)limbs[j] << shift;
                limbs[j] = (uint)(carry % _limbBase);
                carry /= _limbBase;
            }
            while (carry > 0)
            {
                limbs[used++] = (uint)(carry % _limbBase);
                carry /= _limbBase;
            }
        }

        int topDigits = 0;
        if (used > 0)
            for (uint top = limbs[used - 1]; top > 0; top /= (uint)_base) topDigits++;
        int length = zeros + (used == 0 ? 0 : (used - 1) * _digitsPerLimb + topDigits);

        char[]? rentedChars = null;
        Span<char> chars = length <= StackLimit ? stackalloc char[length] : (rentedChars = ArrayPool<char>.Shared.Rent(length));
        chars = chars[..length];
        chars[..zeros].Fill(_alphabet[0]);
        int position = length;
        for (int j = 0; j < used; j++)
        {
            uint limb = limbs[j];
            int count = j == used - 1 ? topDigits : _digitsPerLimb;
            for (int d = 0; d < count; d++)
            {
                chars[--position] = _alphabet[(int)(limb % (uint)_base)];
                limb /= (uint)_base;
            }
        }

        string result = new(chars);
        if (rentedLimbs != null) ArrayPool<uint>.Shared.Return(rentedLimbs);
        if (rentedChars != null) ArrayPool<char>.Shared.Return(rentedChars);
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
