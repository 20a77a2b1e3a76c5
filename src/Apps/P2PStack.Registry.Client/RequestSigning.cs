using System.Buffers.Text;
using System.Security.Cryptography;
using P2PStack.Encoding;
using P2PStack.Identity;

namespace P2PStack.Registry;

/// <summary>
/// Signed registry requests (docs/specs/registry.md, "Request signing"): the signer's libp2p key signs a canonical
/// byte string made of a domain-separation prefix and the request's method, authority, target, timestamp, nonce,
/// public key and body digest, each field length-prefixed with an unsigned varint.
/// </summary>
public static class RequestSigning
{
    /// <summary>Domain-separation prefix, the first field of every signing input.</summary>
    public const string Domain = "synaptic-mesh/registry/request/v1";

    public const string PublicKeyHeader = "Mesh-Public-Key";
    public const string TimestampHeader = "Mesh-Timestamp";
    public const string NonceHeader = "Mesh-Nonce";
    public const string SignatureHeader = "Mesh-Signature";

    /// <summary>Random bytes in a nonce made by <see cref="Sign"/>.</summary>
    public const int NonceBytes = 16;

    /// <summary>Shortest and longest nonce text accepted (base64url without padding of 12 to 48 bytes).</summary>
    public const int MinNonceLength = 16;
    public const int MaxNonceLength = 64;

    /// <summary>Longest Mesh-Public-Key header accepted (a 4096-bit RSA key's protobuf is about 740 characters).</summary>
    public const int MaxPublicKeyLength = 1400;

    /// <summary>Longest Mesh-Signature header accepted (a 4096-bit RSA signature is 683 characters).</summary>
    public const int MaxSignatureLength = 1400;

    /// <summary>The four headers of a signed request.</summary>
    public sealed record SignedHeaders(string PublicKey, string Timestamp, string Nonce, string Signature);

    /// <summary>
    /// The bytes a signer signs. <paramref name="authority"/> is the request's Host header value, compared in
    /// lower case; <paramref name="target"/> is the request target exactly as sent (path and query, percent-encoding
    /// as on the wire); <paramref name="timestamp"/> and <paramref name="nonce"/> are the header texts.
    /// </summary>
    public static byte[] SigningInput(string method, string authority, string target, string timestamp, string nonce,
        ReadOnlySpan<byte> publicKeyProtobuf, ReadOnlySpan<byte> bodySha256)
    {
        if (bodySha256.Length != SHA256.HashSizeInBytes) throw new ArgumentException("the body digest must be 32 bytes", nameof(bodySha256));
        var output = new MemoryStream(256);
        Field(output, Ascii(Domain));
        Field(output, Ascii(method.ToUpperInvariant()));
        Field(output, Ascii(authority.ToLowerInvariant()));
        Field(output, Ascii(target));
        Field(output, Ascii(timestamp));
        Field(output, Ascii(nonce));
        Field(output, publicKeyProtobuf);
        Field(output, bodySha256);
        return output.ToArray();
    }

    /// <summary>Signs a request made now with a fresh random nonce.</summary>
    public static SignedHeaders Sign(PrivateKey key, string method, string authority, string target, ReadOnlySpan<byte> body,
        DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(key);
        string timestamp = now.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        string nonce = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(NonceBytes));
        return Sign(key, method, authority, target, body, timestamp, nonce);
    }

    /// <summary>Signs with a given timestamp and nonce (test vectors, other clients' checks).</summary>
    public static SignedHeaders Sign(PrivateKey key, string method, string authority, string target, ReadOnlySpan<byte> body,
        string timestamp, string nonce)
    {
        byte[] publicKey = key.PublicKey.ToProtobuf();
        byte[] input = SigningInput(method, authority, target, timestamp, nonce, publicKey, SHA256.HashData(body));
        return new SignedHeaders(Base64Url.EncodeToString(publicKey), timestamp, nonce, Base64Url.EncodeToString(key.Sign(input)));
    }

    /// <summary>Decodes unpadded base64url of at most <paramref name="maxLength"/> characters; null when malformed.</summary>
    public static byte[]? DecodeBase64Url(string? text, int maxLength)
    {
        if (string.IsNullOrEmpty(text) || text.Length > maxLength) return null;
        foreach (char c in text)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_')) return null;
        }
        if (text.Length % 4 == 1) return null;
        try
        {
            return Base64Url.DecodeFromChars(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static byte[] Ascii(string text)
    {
        foreach (char c in text)
        {
            if (c is < (char)0x21 or > (char)0x7e)
                throw new ArgumentException($"signed request fields are printable ASCII without spaces, not '{text}'");
        }
        return System.Text.Encoding.ASCII.GetBytes(text);
    }

    private static void Field(MemoryStream output, ReadOnlySpan<byte> value)
    {
        Span<byte> prefix = stackalloc byte[10];
        int length = Varint.Write((ulong)value.Length, prefix);
        output.Write(prefix[..length]);
        output.Write(value);
    }
}
