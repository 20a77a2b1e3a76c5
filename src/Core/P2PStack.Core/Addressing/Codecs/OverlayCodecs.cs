using System.Buffers.Binary;
using System.Globalization;

namespace P2PStack.Addressing.Codecs;

/// <summary>
/// /onion (10-byte v2 service id, 16 base32 chars) and /onion3 (35-byte v3 service id, 56 base32 chars),
/// each followed by ":port" with port 1-65535; bytes are the id then the big-endian port.
/// </summary>
internal sealed class OnionCodec : MultiaddrValueCodec
{
    private static readonly RadixAlphabet Base32 = new("abcdefghijklmnopqrstuvwxyz234567", ignoreCase: true);

    public static readonly OnionCodec V2 = new(10);
    public static readonly OnionCodec V3 = new(35);

    private readonly int idLength;

    private OnionCodec(int idLength) => this.idLength = idLength;

    public override byte[] Parse(string text)
    {
        int colon = text.IndexOf(':');
        if (colon < 0) throw Error("onion address has no port (expected id:port)");
        ReadOnlySpan<char> id = text.AsSpan(0, colon);
        ReadOnlySpan<char> portText = text.AsSpan(colon + 1);
        int expectedChars = Base32.EncodedLength(idLength);
        if (id.Length != expectedChars) throw Error($"onion service id has {id.Length} characters, expected {expectedChars}");
        byte[] idBytes = Base32.Decode(id);
        ulong port = DecimalText.Parse(portText, ushort.MaxValue, "onion port");
        if (port == 0) throw Error("onion port must not be 0");
        var bytes = new byte[idLength + 2];
        idBytes.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(idLength), (ushort)port);
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) =>
        Base32.Encode(value[..idLength]) + ":" +
        BinaryPrimitives.ReadUInt16BigEndian(value[idLength..]).ToString(CultureInfo.InvariantCulture);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length != idLength + 2) throw Error($"onion address has {value.Length} bytes, expected {idLength + 2}");
        if (BinaryPrimitives.ReadUInt16BigEndian(value[idLength..]) == 0) throw Error("onion port must not be 0");
    }
}

/// <summary>/garlic64: an I2P destination, at least 386 bytes, in I2P's base64 ('-' and '~'), padded with '='.</summary>
internal sealed class Garlic64Codec : MultiaddrValueCodec
{
    private static readonly RadixAlphabet Base64 = new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~", ignoreCase: false);
    public static readonly Garlic64Codec Instance = new();
    private const int MinLength = 386;

    public override byte[] Parse(string text)
    {
        if (text.Length % 4 != 0) throw Error("I2P base64 length is not a multiple of 4");
        ReadOnlySpan<char> data = text.AsSpan().TrimEnd('=');
        int padding = text.Length - data.Length;
        if (padding > 2 || (padding > 0 && data.Length % 4 != 4 - padding))
            throw Error("I2P base64 has wrong padding");
        byte[] bytes = Base64.Decode(data);
        Validate(bytes);
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value)
    {
        string text = Base64.Encode(value);
        return text.Length % 4 == 0 ? text : text + new string('=', 4 - text.Length % 4);
    }

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length < MinLength) throw Error($"I2P destination has {value.Length} bytes, expected at least {MinLength}");
    }
}

/// <summary>/garlic32: an I2P b32 address, 32 bytes (or 35+ for encrypted lease sets), lowercase base32 without padding.</summary>
internal sealed class Garlic32Codec : MultiaddrValueCodec
{
    private static readonly RadixAlphabet Base32 = new("abcdefghijklmnopqrstuvwxyz234567", ignoreCase: false);
    public static readonly Garlic32Codec Instance = new();

    public override byte[] Parse(string text)
    {
        byte[] bytes = Base32.Decode(text);
        Validate(bytes);
        return bytes;
    }

    public override string Format(ReadOnlySpan<byte> value) => Base32.Encode(value);

    public override void Validate(ReadOnlySpan<byte> value)
    {
        if (value.Length != 32 && value.Length < 35)
            throw Error($"I2P base32 address has {value.Length} bytes, expected 32 or at least 35");
    }
}
