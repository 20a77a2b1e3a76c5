namespace P2PStack.Encoding;

/// <summary>Raised for a malformed unsigned varint.</summary>
public sealed class VarintException(string message) : P2PFormatException(message);

/// <summary>
/// Unsigned LEB128 varint as the multiformats spec restricts it: minimal encoding only, at most 9 bytes
/// (63 bits of value), so every value has exactly one encoding.
/// </summary>
public static class Varint
{
    /// <summary>Longest encoding the multiformats spec allows.</summary>
    public const int MaxLength = 9;

    /// <summary>Largest value that fits in <see cref="MaxLength"/> bytes.</summary>
    public const ulong MaxValue = (1UL << 63) - 1;

    /// <summary>Number of bytes <paramref name="value"/> takes.</summary>
    public static int SizeOf(ulong value)
    {
        if (value > MaxValue) throw new ArgumentOutOfRangeException(nameof(value), "varint values are limited to 63 bits");
        // 7 bits per byte; BitOperations gives the position of the top bit.
        int bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1);
        return (bits + 6) / 7;
    }

    /// <summary>Writes <paramref name="value"/> and returns the number of bytes written.</summary>
    public static int Write(ulong value, Span<byte> destination)
    {
        int size = SizeOf(value);
        if (destination.Length < size) throw new ArgumentException($"destination needs {size} bytes for the varint", nameof(destination));
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    public static byte[] Encode(ulong value)
    {
        var bytes = new byte[SizeOf(value)];
        Write(value, bytes);
        return bytes;
    }

    /// <summary>Decodes one varint at the start of <paramref name="source"/>; <paramref name="bytesRead"/> is its length.</summary>
    /// <exception cref="VarintException">Truncated, longer than 9 bytes, or not minimally encoded.</exception>
    public static ulong Read(ReadOnlySpan<byte> source, out int bytesRead)
    {
        if (!TryRead(source, out ulong value, out bytesRead, out string? error))
            throw new VarintException(error!);
        return value;
    }

    /// <summary>Like <see cref="Read"/> but reports a truncated input as <c>false</c> with <paramref name="bytesRead"/> = 0,
    /// for stream readers that wait for more bytes. Malformed input still throws.</summary>
    public static bool TryReadPrefix(ReadOnlySpan<byte> source, out ulong value, out int bytesRead)
    {
        if (TryRead(source, out value, out bytesRead, out string? error)) return true;
        bool truncated = source.Length < MaxLength && !ContainsTerminator(source);
        if (truncated) { bytesRead = 0; return false; }
        throw new VarintException(error!);
    }

    private static bool ContainsTerminator(ReadOnlySpan<byte> source)
    {
        foreach (byte b in source) if ((b & 0x80) == 0) return true;
        return false;
    }

    private static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int bytesRead, out string? error)
    {
        value = 0;
        bytesRead = 0;
        int shift = 0;
        for (int i = 0; i < source.Length; i++)
        {
            byte b = source[i];
            if (i == MaxLength - 1 && (b & 0x80) != 0)
            {
                // The ninth byte must end the varint: no valid encoding continues past it.
                error = $"varint is longer than {MaxLength} bytes";
                value = 0;
                return false;
            }
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    error = "varint is not minimally encoded (trailing zero byte)";
                    value = 0;
                    return false;
                }
                bytesRead = i + 1;
                error = null;
                return true;
            }
            shift += 7;
        }
        value = 0;
        error = source.Length == 0 ? "varint is empty" : "varint is truncated (last byte has the continuation bit set)";
        return false;
    }
}
