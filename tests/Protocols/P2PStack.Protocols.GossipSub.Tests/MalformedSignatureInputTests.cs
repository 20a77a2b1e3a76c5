using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub.Tests;

/// <summary>
/// <see cref="MessageSigning.Verify"/> catches only the typed decode errors bad input produces; every kind of malformed
/// author, key and signature, for each key type, must still end as "not verified" (null), never as an exception.
/// </summary>
public class MalformedSignatureInputTests
{
    private static readonly Lazy<PrivateKey> Rsa = new(() => PrivateKey.Generate(KeyType.Rsa));
    private static readonly Lazy<PrivateKey> Ecdsa = new(() => PrivateKey.Generate(KeyType.Ecdsa));
    private static readonly Lazy<PrivateKey> Secp = new(() => PrivateKey.Generate(KeyType.Secp256k1));

    private static PrivateKey KeyOf(KeyType type) => type switch
    {
        KeyType.Ed25519 => Keys.Key(7),
        KeyType.Secp256k1 => Secp.Value,
        KeyType.Ecdsa => Ecdsa.Value,
        _ => Rsa.Value,
    };

    /// <summary>A libp2p PublicKey protobuf with arbitrary Data (Type, then Data, as the spec requires).</summary>
    private static ByteString KeyProtobuf(KeyType type, byte[] data)
    {
        var bytes = new List<byte> { 0x08, (byte)type, 0x12 };
        uint length = (uint)data.Length;
        while (length >= 0x80) { bytes.Add((byte)(length | 0x80)); length >>= 7; }
        bytes.Add((byte)length);
        bytes.AddRange(data);
        return ByteString.CopyFrom(bytes.ToArray());
    }

    private static Message Signed(KeyType type) => MessageSigning.CreateSigned("t", [1, 2, 3], KeyOf(type), 9);

    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa)]
    public void Well_formed_message_of_each_key_type_verifies(KeyType type)
    {
        Assert.Equal(PeerId.FromPublicKey(KeyOf(type).PublicKey), MessageSigning.Verify(Signed(type)));
    }

    public static TheoryData<string> MalformedAuthors =>
    [
        "empty", "not-a-multihash", "truncated-multihash", "short-sha256-digest", "unknown-hash-function",
        "identity-with-bad-key", "identity-with-non-canonical-key",
    ];

    [Theory]
    [MemberData(nameof(MalformedAuthors))]
    public void Malformed_author_is_not_verified(string kind)
    {
        var message = Signed(KeyType.Ed25519);
        var ed25519Key = KeyOf(KeyType.Ed25519).PublicKey.ToProtobuf();
        byte[] from = kind switch
        {
            "empty" => [],
            "not-a-multihash" => [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            "truncated-multihash" => [0x12, 0x20, 1, 2, 3],
            "short-sha256-digest" => [0x12, 0x04, 1, 2, 3, 4],
            "unknown-hash-function" => [0x13, 0x02, 1, 2],
            "identity-with-bad-key" => [0x00, 0x05, 0x08, 0x01, 0x12, 0x01, 0x00],
            // The same key with its Data length as a two-byte varint: decodable, not canonical.
            "identity-with-non-canonical-key" => [0x00, (byte)(ed25519Key.Length + 1), .. ed25519Key[..3], 0xa0, 0x00, .. ed25519Key[4..]],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        message.From = ByteString.CopyFrom(from);
        Assert.Null(MessageSigning.Verify(message));
    }

    public static TheoryData<KeyType, string> MalformedKeys()
    {
        var data = new TheoryData<KeyType, string>();
        foreach (var type in new[] { KeyType.Ed25519, KeyType.Secp256k1, KeyType.Ecdsa, KeyType.Rsa })
            foreach (var kind in new[] { "empty", "truncated", "wrong-first-tag", "unknown-type", "trailing-bytes", "bad-data", "truncated-data" })
                data.Add(type, kind);
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedKeys))]
    public void Malformed_key_is_not_verified(KeyType type, string kind)
    {
        var message = Signed(type);
        var good = KeyOf(type).PublicKey.ToProtobuf();
        var raw = KeyOf(type).PublicKey.Raw.ToArray();
        message.Key = kind switch
        {
            "empty" => ByteString.Empty,
            "truncated" => ByteString.CopyFrom(good, 0, 3),
            "wrong-first-tag" => ByteString.CopyFrom([0x10, .. good[1..]]),
            "unknown-type" => KeyProtobuf((KeyType)9, raw),
            "trailing-bytes" => ByteString.CopyFrom([.. good, 0x00]),
            "bad-data" => KeyProtobuf(type, BadKeyData(type, raw)),
            "truncated-data" => KeyProtobuf(type, raw[..^1]),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        Assert.Null(MessageSigning.Verify(message));
    }

    /// <summary>Data of the right size for the type that is still not a key of it.</summary>
    private static byte[] BadKeyData(KeyType type, byte[] raw)
    {
        var bad = (byte[])raw.Clone();
        switch (type)
        {
            case KeyType.Ed25519: return [.. raw, 0]; // 33 bytes
            case KeyType.Secp256k1:
                // x = 5 has no point on y^2 = x^3 + 7 (130 is not a square mod p).
                bad = new byte[33];
                bad[0] = 0x02;
                bad[32] = 5;
                return bad;
            default:
                // DER SubjectPublicKeyInfo with its outer tag changed: not a SEQUENCE.
                bad[0] = 0x31;
                return bad;
        }
    }

    public static TheoryData<KeyType, string> MalformedSignatures()
    {
        var data = new TheoryData<KeyType, string>();
        foreach (var type in new[] { KeyType.Ed25519, KeyType.Secp256k1, KeyType.Ecdsa, KeyType.Rsa })
            foreach (var kind in new[] { "empty", "one-byte", "truncated", "extended", "not-der", "all-ones", "huge" })
                data.Add(type, kind);
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedSignatures))]
    public void Malformed_signature_is_not_verified(KeyType type, string kind)
    {
        var message = Signed(type);
        var good = message.Signature.ToByteArray();
        byte[] signature = kind switch
        {
            "empty" => [],
            "one-byte" => [0x30],
            "truncated" => good[..^1],
            "extended" => [.. good, 0x00],
            "not-der" => [0x31, .. good[1..]],
            "all-ones" => Enumerable.Repeat((byte)0xff, good.Length).ToArray(),
            "huge" => new byte[70_000],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        message.Signature = ByteString.CopyFrom(signature);
        Assert.Null(MessageSigning.Verify(message));
    }
}
