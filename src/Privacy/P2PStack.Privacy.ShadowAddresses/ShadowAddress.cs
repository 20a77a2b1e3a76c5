using System.Security.Cryptography;
using P2PStack.Addressing;
using P2PStack.Encoding;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>
/// A shadow address: a P-256 public key of its own (never the node's identity key). Text form
/// <c>base32(version || key || checksum)</c> in lowercase without padding (58 characters), written <c>shadow:&lt;text&gt;</c>
/// or as the multiaddr <c>/shadow/&lt;text&gt;</c> (docs/specs/shadow.md).
/// </summary>
public sealed class ShadowAddress : IEquatable<ShadowAddress>
{
    /// <summary>Version byte of the text form.</summary>
    public const byte Version = 1;

    /// <summary>Prefix of the URI-like form: <c>shadow:</c>.</summary>
    public const string Scheme = "shadow:";

    private const int ChecksumSize = 2;
    private const int EncodedSize = 1 + ShadowCurve.PointSize + ChecksumSize;
    private static readonly byte[] ChecksumLabel = "synaptic-shadow-checksum"u8.ToArray();

    private readonly byte[] _key;

    static ShadowAddress()
    {
    }

    private ShadowAddress(byte[] key)
    {
        _key = key;
        Point = ShadowCurve.DecodePoint(key);
    }

    /// <summary>The multiaddr protocol <c>/shadow</c> (private-use code 0x3f0011), registered on first use.</summary>
    public static MultiaddrProtocol Protocol { get; } =
        MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0011, "shadow", MultiaddrProtocol.VariableSize, new ShadowMultiaddrCodec()));

    /// <summary>The compressed public key (33 bytes).</summary>
    public ReadOnlySpan<byte> PublicKey => _key;

    internal Org.BouncyCastle.Math.EC.ECPoint Point { get; }

    /// <summary>An address from its compressed public key; throws <see cref="ShadowFormatException"/> on an invalid point.</summary>
    public static ShadowAddress FromPublicKey(ReadOnlySpan<byte> compressedKey) => new(compressedKey.ToArray());

    /// <summary>Parses the text form, with or without <c>shadow:</c>, or a multiaddr ending in <c>/shadow/...</c>.</summary>
    public static ShadowAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.StartsWith('/')) return FromMultiaddr(Multiaddr.Parse(text));
        if (text.StartsWith(Scheme, StringComparison.Ordinal)) text = text[Scheme.Length..];
        return new ShadowAddress(Decode(text));
    }

    public static bool TryParse(string text, out ShadowAddress? address)
    {
        try
        {
            address = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            address = null;
            return false;
        }
    }

    /// <summary>The address in a multiaddr's last <c>/shadow</c> component.</summary>
    public static ShadowAddress FromMultiaddr(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var component = address.Components.LastOrDefault(c => c.Protocol.Code == Protocol.Code)
            ?? throw new ShadowFormatException($"{address} has no /shadow component");
        return new ShadowAddress(DecodeBytes(component.RawValue.Span));
    }

    /// <summary>The multiaddr <c>/shadow/&lt;text&gt;</c>.</summary>
    public Multiaddr ToMultiaddr() => Multiaddr.Parse($"/shadow/{this}");

    /// <summary>The text form without scheme.</summary>
    public override string ToString() => Base32.EncodeLower(Encode(_key));

    /// <summary>The text form with the <c>shadow:</c> scheme.</summary>
    public string ToUri() => Scheme + ToString();

    public bool Equals(ShadowAddress? other) => other is not null && _key.AsSpan().SequenceEqual(other._key);

    public override bool Equals(object? obj) => Equals(obj as ShadowAddress);

    public override int GetHashCode() => HashCode.Combine(BitConverter.ToInt32(_key, 1), BitConverter.ToInt32(_key, 5));

    internal static byte[] Encode(ReadOnlySpan<byte> key)
    {
        var bytes = new byte[EncodedSize];
        bytes[0] = Version;
        key.CopyTo(bytes.AsSpan(1));
        Checksum(key).CopyTo(bytes.AsSpan(1 + ShadowCurve.PointSize));
        return bytes;
    }

    private static byte[] Decode(string text)
    {
        byte[] bytes;
        try
        {
            bytes = Base32.Decode(text, LetterCase.Lower);
        }
        catch (FormatException ex)
        {
            throw new ShadowFormatException("a shadow address is lowercase base32", ex);
        }
        return DecodeBytes(bytes);
    }

    internal static byte[] DecodeBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != EncodedSize) throw new ShadowFormatException($"a shadow address encodes {EncodedSize} bytes, not {bytes.Length}");
        if (bytes[0] != Version) throw new ShadowFormatException($"shadow address version {bytes[0]} is not {Version}");
        var key = bytes.Slice(1, ShadowCurve.PointSize);
        if (!Checksum(key).SequenceEqual(bytes[(1 + ShadowCurve.PointSize)..]))
            throw new ShadowFormatException("shadow address checksum mismatch (mistyped?)");
        _ = ShadowCurve.DecodePoint(key);
        return key.ToArray();
    }

    private static byte[] Checksum(ReadOnlySpan<byte> key)
    {
        Span<byte> input = stackalloc byte[24 + 1 + ShadowCurve.PointSize];
        ChecksumLabel.CopyTo(input);
        input[24] = Version;
        key.CopyTo(input[25..]);
        return SHA256.HashData(input)[..ChecksumSize];
    }

    /// <summary>The value codec of <c>/shadow</c>: the text form in text, its 36 bytes in binary.</summary>
    private sealed class ShadowMultiaddrCodec : MultiaddrValueCodec
    {
        public override byte[] Parse(string text)
        {
            try
            {
                return Encode(Decode(text));
            }
            catch (ShadowFormatException ex)
            {
                throw Error(ex.Message);
            }
        }

        public override string Format(ReadOnlySpan<byte> value) => Base32.EncodeLower(value);

        public override void Validate(ReadOnlySpan<byte> value)
        {
            try
            {
                DecodeBytes(value);
            }
            catch (ShadowFormatException ex)
            {
                throw Error(ex.Message);
            }
        }
    }
}
