using System.Buffers.Binary;
using System.Text;

namespace P2PStack.Addressing.Codecs;

/// <summary>
/// Strict IP address text. Written here rather than using IPAddress.Parse, which also accepts
/// "127.1", hex/octal parts, brackets and scope ids: none of those are multiaddr values.
/// </summary>
internal static class IpText
{
    /// <summary>Dotted quad: four decimal parts 0-255, no leading zeros.</summary>
    public static bool TryParseIp4(ReadOnlySpan<char> text, Span<byte> destination)
    {
        int part = 0;
        int i = 0;
        while (true)
        {
            int start = i;
            int value = 0;
            while (i < text.Length && text[i] is >= '0' and <= '9' && i - start < 3)
            {
                value = value * 10 + (text[i] - '0');
                i++;
            }
            int digits = i - start;
            if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0')) return false;
            destination[part++] = (byte)value;
            if (part == 4) return i == text.Length;
            if (i >= text.Length || text[i] != '.') return false;
            i++;
        }
    }

    /// <summary>RFC 4291 text: eight groups of 1-4 hex digits, one optional "::", optional trailing dotted quad.</summary>
    public static bool TryParseIp6(ReadOnlySpan<char> text, Span<byte> destination)
    {
        Span<ushort> groups = stackalloc ushort[8];
        int count = 0;
        int ellipsis = -1;
        int i = 0;
        if (text.Length < 2) return false;
        if (text[0] == ':')
        {
            if (text[1] != ':') return false;
            ellipsis = 0;
            i = 2;
        }
        while (i < text.Length)
        {
            int start = i;
            int value = 0;
            while (i < text.Length && HexValue(text[i]) is int digit and >= 0)
            {
                if (i - start == 4) return false;
                value = (value << 4) | digit;
                i++;
            }
            if (i < text.Length && text[i] == '.')
            {
                // Embedded IPv4 takes the last two groups.
                if (count > 6) return false;
                Span<byte> v4 = stackalloc byte[4];
                if (!TryParseIp4(text[start..], v4)) return false;
                groups[count++] = (ushort)(v4[0] << 8 | v4[1]);
                groups[count++] = (ushort)(v4[2] << 8 | v4[3]);
                i = text.Length;
                break;
            }
            if (i == start || count == 8) return false;
            groups[count++] = (ushort)value;
            if (i == text.Length) break;
            if (text[i] != ':') return false;
            i++;
            if (i < text.Length && text[i] == ':')
            {
                if (ellipsis >= 0) return false;
                ellipsis = count;
                i++;
            }
            else if (i == text.Length)
            {
                return false; // a single trailing ':'
            }
        }
        if (ellipsis < 0 ? count != 8 : count > 7) return false;

        destination[..16].Clear();
        int tail = ellipsis < 0 ? 0 : count - ellipsis;
        int head = count - tail;
        for (int g = 0; g < head; g++) BinaryPrimitives.WriteUInt16BigEndian(destination[(g * 2)..], groups[g]);
        for (int g = 0; g < tail; g++) BinaryPrimitives.WriteUInt16BigEndian(destination[((8 - tail + g) * 2)..], groups[head + g]);
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    /// <summary>RFC 5952: lowercase, no leading zeros, longest run (2+ groups, first on a tie) of zero groups as "::".
    /// IPv4-mapped addresses print as ::ffff:a.b.c.d.</summary>
    public static string FormatIp6(ReadOnlySpan<byte> address)
    {
        if (address[..10].IndexOfAnyExcept((byte)0) < 0 && address[10] == 0xff && address[11] == 0xff)
            return $"::ffff:{address[12]}.{address[13]}.{address[14]}.{address[15]}";

        Span<ushort> groups = stackalloc ushort[8];
        for (int g = 0; g < 8; g++) groups[g] = BinaryPrimitives.ReadUInt16BigEndian(address[(g * 2)..]);

        int bestStart = -1, bestLength = 1;
        for (int g = 0; g < 8;)
        {
            if (groups[g] != 0) { g++; continue; }
            int start = g;
            while (g < 8 && groups[g] == 0) g++;
            if (g - start > bestLength) { bestStart = start; bestLength = g - start; }
        }

        var text = new StringBuilder(39);
        for (int g = 0; g < 8; g++)
        {
            if (g == bestStart)
            {
                text.Append("::");
                g += bestLength - 1;
                continue;
            }
            if (g > 0 && g != bestStart + bestLength) text.Append(':');
            text.Append(groups[g].ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        }
        return text.ToString();
    }
}
