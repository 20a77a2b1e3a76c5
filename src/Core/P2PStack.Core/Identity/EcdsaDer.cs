namespace P2PStack.Identity;

/// <summary>
/// Strict DER for ECDSA signatures, <c>SEQUENCE { INTEGER r, INTEGER s }</c>, with short-form lengths only
/// (enough for curves up to 2^1000): minimal, non-negative integers and no trailing bytes, so a signature has one encoding.
/// </summary>
internal static class EcdsaDer
{
    public static byte[] Encode(ReadOnlySpan<byte> r, ReadOnlySpan<byte> s)
    {
        r = TrimLeadingZeros(r);
        s = TrimLeadingZeros(s);
        int rLength = r.Length + (r[0] >= 0x80 ? 1 : 0);
        int sLength = s.Length + (s[0] >= 0x80 ? 1 : 0);
        int bodyLength = 4 + rLength + sLength;
        var output = new byte[2 + bodyLength];
        output[0] = 0x30;
        output[1] = (byte)bodyLength;
        int offset = WriteInteger(output, 2, r, rLength);
        WriteInteger(output, offset, s, sLength);
        return output;
    }

    private static int WriteInteger(byte[] output, int offset, ReadOnlySpan<byte> value, int length)
    {
        output[offset] = 0x02;
        output[offset + 1] = (byte)length;
        value.CopyTo(output.AsSpan(offset + 2 + length - value.Length));
        return offset + 2 + length;
    }

    private static ReadOnlySpan<byte> TrimLeadingZeros(ReadOnlySpan<byte> value)
    {
        int i = 0;
        while (i < value.Length - 1 && value[i] == 0) i++;
        return value.Length == 0 ? new byte[] { 0 } : value[i..];
    }

    /// <summary>Splits a strict-DER signature into unsigned big-endian r and s of at most <paramref name="maxScalarBytes"/>.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> der, int maxScalarBytes, out ReadOnlySpan<byte> r, out ReadOnlySpan<byte> s)
    {
        r = s = default;
        if (der.Length < 8 || der[0] != 0x30 || der[1] >= 0x80 || der[1] != der.Length - 2) return false;
        int offset = 2;
        if (!TryReadInteger(der, ref offset, maxScalarBytes, out Range rRange)) return false;
        if (!TryReadInteger(der, ref offset, maxScalarBytes, out Range sRange)) return false;
        if (offset != der.Length) return false;
        r = der[rRange];
        s = der[sRange];
        return true;
    }

    private static bool TryReadInteger(ReadOnlySpan<byte> der, ref int offset, int maxScalarBytes, out Range value)
    {
        value = default;
        var input = der[offset..];
        if (input.Length < 3 || input[0] != 0x02) return false;
        int length = input[1];
        if (length == 0 || length >= 0x80 || input.Length < 2 + length) return false;
        var content = input.Slice(2, length);
        if ((content[0] & 0x80) != 0) return false; // negative
        if (content.Length > 1 && content[0] == 0 && (content[1] & 0x80) == 0) return false; // not minimal
        int skip = content[0] == 0 ? 1 : 0;
        if (length - skip > maxScalarBytes) return false;
        value = new Range(offset + 2 + skip, offset + 2 + length);
        offset += 2 + length;
        return true;
    }
}
