using System.Buffers.Binary;
using System.Globalization;

namespace P2PStack.Addressing.Codecs;

/// <summary>/ip4: 4 bytes, strict dotted quad (no leading zeros, no other notations).</summary>
internal sealed class Ip4Codec : MultiaddrValueCodec
{
    public static readonly Ip4Codec Instance = new();

    public override byte[] Parse(string text)
    {
        var bytes = new byte[4];
        if (!IpText.TryParseIp4(text, bytes)) throw Error("not a dotted-quad IPv4 address");
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) =>
        string.Create(CultureInfo.InvariantCulture, $"{value[0]}.{value[1]}.{value[2]}.{value[3]}");

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length != 4) throw Error($"IPv4 address has {value.Length} bytes, expected 4");
    }
}

/// <summary>/ip6: 16 bytes. Text is printed per RFC 5952 (as go-multiaddr does, with ::ffff:a.b.c.d for IPv4-mapped).</summary>
internal sealed class Ip6Codec : MultiaddrValueCodec
{
    public static readonly Ip6Codec Instance = new();

    public override byte[] Parse(string text)
    {
        var bytes = new byte[16];
        if (!IpText.TryParseIp6(text, bytes)) throw Error("not an IPv6 address");
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) => IpText.FormatIp6(value);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length != 16) throw Error($"IPv6 address has {value.Length} bytes, expected 16");
    }
}

/// <summary>/ipcidr: one byte, decimal 0-255 (go-multiaddr does not bound it by address family).</summary>
internal sealed class IpCidrCodec : MultiaddrValueCodec
{
    public static readonly IpCidrCodec Instance = new();

    public override byte[] Parse(string text) => [(byte)DecimalText.Parse(text, byte.MaxValue, "CIDR mask")];

    public override string Format(ReadOnlySpan<byte> value) => value[0].ToString(CultureInfo.InvariantCulture);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length != 1) throw Error($"CIDR mask has {value.Length} bytes, expected 1");
    }
}

/// <summary>/tcp, /udp, /dccp, /sctp: big-endian 16-bit port, decimal 0-65535.</summary>
internal sealed class PortCodec : MultiaddrValueCodec
{
    public static readonly PortCodec Instance = new();

    public override byte[] Parse(string text)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)DecimalText.Parse(text, ushort.MaxValue, "port"));
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) =>
        BinaryPrimitives.ReadUInt16BigEndian(value).ToString(CultureInfo.InvariantCulture);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length != 2) throw Error($"port has {value.Length} bytes, expected 2");
    }
}

/// <summary>
/// /memory: big-endian 64-bit id, decimal text. Fixed 8 bytes as go-multiaddr and rust-multiaddr encode it
/// (protocols.csv lists it as variable-size, but no length prefix is written by either implementation).
/// </summary>
internal sealed class MemoryCodec : MultiaddrValueCodec
{
    public static readonly MemoryCodec Instance = new();

    public override byte[] Parse(string text)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, DecimalText.Parse(text, ulong.MaxValue, "memory id"));
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) =>
        BinaryPrimitives.ReadUInt64BigEndian(value).ToString(CultureInfo.InvariantCulture);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length != 8) throw Error($"memory id has {value.Length} bytes, expected 8");
    }
}

/// <summary>Unsigned decimal text as Go's strconv.ParseUint(s, 10, n) takes it: ASCII digits only, no sign.</summary>
internal static class DecimalText
{
    public static ulong Parse(ReadOnlySpan<char> text, ulong max, string what)
    {
        if (text.IsEmpty) throw new MultiaddrException($"{what} is empty");
        ulong value = 0;
        foreach (char c in text)
        {
            if (c is < '0' or > '9') throw new MultiaddrException($"{what} has a non-digit character");
            ulong digit = (ulong)(c - '0');
            if (value > (max - digit) / 10) throw new MultiaddrException($"{what} is larger than {max}");
            value = value * 10 + digit;
        }
        return value;
    }
}
