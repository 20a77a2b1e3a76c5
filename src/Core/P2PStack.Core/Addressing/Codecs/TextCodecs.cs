using System.Text;

namespace P2PStack.Addressing.Codecs;

/// <summary>UTF-8 values. Bytes that are not valid UTF-8 are rejected: they could not be printed and parsed back.</summary>
internal static class Utf8Text
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] GetBytes(string text)
    {
        try { return Strict.GetBytes(text); }
        catch (EncoderFallbackException) { throw new MultiaddrException("text is not valid Unicode (lone surrogate)"); }
    }

    public static string GetString(ReadOnlySpan<byte> value)
    {
        try { return Strict.GetString(value); }
        catch (DecoderFallbackException) { throw new MultiaddrException("value is not valid UTF-8"); }
    }

    public static void Validate(ReadOnlySpan<byte> value)
    {
        if (System.Text.Unicode.Utf8.IsValid(value)) return;
        throw new MultiaddrException("value is not valid UTF-8");
    }
}

/// <summary>/dns, /dns4, /dns6, /dnsaddr, /sni: a non-empty name without '/' (go-multiaddr's rule).</summary>
internal sealed class DnsCodec : MultiaddrValueCodec
{
    public static readonly DnsCodec Instance = new();

    public override byte[] Parse(string text)
    {
        byte[] bytes = Utf8Text.GetBytes(text);
        Validate(bytes);
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) => Utf8Text.GetString(value);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) throw Error("domain name is empty");
        if (value.Contains((byte)'/')) throw Error("domain name contains '/'");
        Utf8Text.Validate(value);
    }
}

/// <summary>/ip6zone: RFC 4007 zone id, non-empty, no '/'.</summary>
internal sealed class Ip6ZoneCodec : MultiaddrValueCodec
{
    public static readonly Ip6ZoneCodec Instance = new();

    public override byte[] Parse(string text)
    {
        byte[] bytes = Utf8Text.GetBytes(text);
        Validate(bytes);
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) => Utf8Text.GetString(value);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) throw Error("zone id is empty");
        if (value.Contains((byte)'/')) throw Error("zone id contains '/'");
        Utf8Text.Validate(value);
    }
}

/// <summary>
/// /unix: a path protocol. In text it takes the rest of the address, so the value starts with '/';
/// go-multiaddr also requires at least two bytes and no trailing '/'.
/// </summary>
internal sealed class UnixCodec : MultiaddrValueCodec
{
    public static readonly UnixCodec Instance = new();

    public override byte[] Parse(string text)
    {
        byte[] bytes = Utf8Text.GetBytes(text);
        Validate(bytes);
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) => Utf8Text.GetString(value);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length < 2) throw Error("path is too short");
        if (value[0] != '/') throw Error("path must begin with '/'");
        if (value[^1] == '/') throw Error("path must not end with '/'");
        Utf8Text.Validate(value);
    }
}

/// <summary>
/// /http-path: any non-empty bytes; text is URL query-escaped exactly like Go's url.QueryEscape /
/// url.QueryUnescape ('+' means space, %XX needs two hex digits).
/// </summary>
internal sealed class HttpPathCodec : MultiaddrValueCodec
{
    public static readonly HttpPathCodec Instance = new();
    private const string Hex = "0123456789ABCDEF";

    public override byte[] Parse(string text)
    {
        byte[] utf8 = Utf8Text.GetBytes(text);
        var result = new byte[utf8.Length];
        int length = 0;
        for (int i = 0; i < utf8.Length; i++)
        {
            byte b = utf8[i];
            if (b == '%')
            {
                if (i + 2 >= utf8.Length || HexValue(utf8[i + 1]) < 0 || HexValue(utf8[i + 2]) < 0)
                    throw Error("'%' is not followed by two hex digits");
                result[length++] = (byte)(HexValue(utf8[i + 1]) << 4 | HexValue(utf8[i + 2]));
                i += 2;
            }
            else
            {
                result[length++] = b == '+' ? (byte)' ' : b;
            }
        }
        if (length == 0) throw Error("path is empty");
        return result.AsSpan(0, length).ToArray();
    }

    public override string Format(ReadOnlySpan<byte> value)
    {
        var text = new StringBuilder(value.Length * 3);
        foreach (byte b in value)
        {
            if (IsUnreserved(b)) text.Append((char)b);
            else if (b == ' ') text.Append('+');
            else text.Append('%').Append(Hex[b >> 4]).Append(Hex[b & 0xF]);
        }
        return text.ToString();
    }

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty) throw Error("path is empty");
    }

    private static bool IsUnreserved(byte b) =>
        b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9')
            or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~';

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
