using P2PStack.Encoding;
using P2PStack.Identity;
using static P2PStack.Tests.Identity.KeyVectors;

namespace P2PStack.Tests.Identity;

public class PeerIdTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    [Fact]
    public void SpecExamples_Parse()
    {
        var sha256 = PeerId.Parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
        Assert.Equal("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", sha256.ToString());
        Assert.Null(sha256.TryGetPublicKey());

        var cid = PeerId.Parse("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");
        Assert.Equal("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe", cid.ToCidString());
        Assert.Equal(cid, PeerId.Parse(cid.ToString()));
        Assert.StartsWith("Qm", cid.ToString());

        var ed25519 = PeerId.Parse("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
        var key = ed25519.TryGetPublicKey();
        Assert.NotNull(key);
        Assert.Equal(KeyType.Ed25519, key.Type);
        Assert.Equal(ed25519, PeerId.FromPublicKey(key));
        Assert.True(ed25519.Matches(key));
        Assert.Equal(ed25519, PeerId.Parse(ed25519.ToCidString()));
        Assert.Equal(ed25519, PeerId.Parse(ed25519.ToCidString(MultibaseEncoding.Base36)));
        Assert.StartsWith("k51", ed25519.ToCidString(MultibaseEncoding.Base36));
    }

    [Fact]
    public void SpecKeyVectors_DerivePeerIdsOfTheRightKind()
    {
        var ed25519 = PeerId.FromPublicKey(PublicKey.FromProtobuf(Hex(SpecEd25519Public)));
        Assert.StartsWith("12D3KooW", ed25519.ToString());
        Assert.Equal([0x00, 0x24, .. Hex(SpecEd25519Public)], ed25519.ToBytes());

        var secp = PeerId.FromPublicKey(PublicKey.FromProtobuf(Hex(SpecSecp256k1Public)));
        Assert.StartsWith("16Uiu2", secp.ToString());
        Assert.Equal(PublicKey.FromProtobuf(Hex(SpecSecp256k1Public)), secp.TryGetPublicKey());

        foreach (string hex in new[] { SpecEcdsaPublic, SpecRsaPublic })
        {
            var id = PeerId.FromPublicKey(PublicKey.FromProtobuf(Hex(hex)));
            Assert.StartsWith("Qm", id.ToString());
            Assert.Equal([0x12, 0x20, .. System.Security.Cryptography.SHA256.HashData(Hex(hex))], id.ToBytes());
            Assert.Null(id.TryGetPublicKey());
            Assert.True(id.Matches(PublicKey.FromProtobuf(Hex(hex))));
            Assert.False(id.Matches(PublicKey.FromProtobuf(Hex(SpecEd25519Public))));
        }
    }

    [Fact]
    public void GoLibp2pManualRsaKey_HasItsPublishedPeerId()
    {
        using var key = PrivateKey.FromProtobuf(Convert.FromBase64String(GoManualRsaPrivateBase64));
        Assert.Equal(GoManualRsaPeerId, PeerId.FromPublicKey(key.PublicKey).ToString());
    }

    [Fact]
    public void JsLibp2pGoInteropRsaKey_HasItsPublishedPeerId()
    {
        using var key = PrivateKey.FromProtobuf(Convert.FromBase64String(PeerIdVectors.GoInteropPrivateBase64));
        Assert.Equal(PeerIdVectors.GoInteropPeerId, PeerId.FromPublicKey(key.PublicKey).ToString());
        Assert.Equal(PeerIdVectors.GoInteropPrivateBase64, Convert.ToBase64String(key.ToProtobuf()));
    }

    [Fact]
    public void JsLibp2pSampleKeyPair_HasItsPublishedPeerId()
    {
        using var key = PrivateKey.FromProtobuf(Convert.FromBase64String(PeerIdVectors.SamplePrivateBase64));
        var publicKey = PublicKey.FromProtobuf(Convert.FromBase64String(PeerIdVectors.SamplePublicBase64));
        Assert.Equal(publicKey, key.PublicKey);
        var id = PeerId.FromPublicKey(publicKey);
        Assert.Equal(PeerIdVectors.SamplePeerIdHex, Convert.ToHexString(id.ToBytes()).ToLowerInvariant());
        Assert.Equal(id, PeerId.FromBytes(Hex(PeerIdVectors.SamplePeerIdHex)));
    }

    [Theory]
    [InlineData("12D3KooWAfPDpPRRRBrmqy9is2zjU5srQ4hKuZitiGmh4NTTpS2d", "QmPoHmYtUt8BU9eiwMYdBfT6rooBnna5fdAZHUaZASGQY8")]
    [InlineData("12D3KooWF5Qbrbvhhha1AcqRULWAfYzFEnKvWVGBUjw489hpo5La", "Qmbp3SxL2SYcH6Ly4r5SGQwfxkDCJPuhJG35GCZimcTiBc")]
    [InlineData("12D3KooWBHBzTtotosqDcDYuTjLoReWsynXiM547f6JYKL9JSjjY", "QmbvwwFmC6gskHBPyqcrAp9cAiWu38Pn22gMkRXHmnRWLo")]
    [InlineData("12D3KooWJEfH2MB4RsUoaJPogDPRWbFTi8iehsxsqrQpiJwFNDrP", "QmSLYHye2CMeg3eTDLFk5k2b1QiCq8KYcL3qvHkFK3pUrQ")]
    [InlineData("12D3KooWNPQXNm9CJirv9uUKKZgWrTFYGuxRmXFzUjj3VXsoFr2H", "QmXa6eSg5waAp6FjHVaoeZmKPYANK8aRmyvzMRTqLKkbNv")]
    public void EmbeddedEd25519Ids_HashToTheirLegacySha256Ids(string embedded, string legacy)
    {
        // Pairs published with swift-libp2p's peer id tests: the same Ed25519 key, inlined and sha2-256 hashed.
        var id = PeerId.Parse(embedded);
        var key = id.TryGetPublicKey()!;
        Assert.Equal(embedded, id.ToString());
        Assert.Equal(legacy, Multihash.Sha2_256(key.ToProtobuf()).ToString());
        var legacyId = PeerId.Parse(legacy);
        Assert.NotEqual(id, legacyId); // different ids on the wire, as in go-libp2p
        Assert.Null(legacyId.TryGetPublicKey());
    }

    [Fact]
    public void GeneratedKeys_RoundTripThroughEveryForm()
    {
        foreach (var type in new[] { KeyType.Ed25519, KeyType.Secp256k1, KeyType.Ecdsa })
        {
            using var key = PrivateKey.Generate(type);
            var id = PeerId.FromPublicKey(key.PublicKey);
            Assert.Equal(id, PeerId.Parse(id.ToString()));
            Assert.Equal(id, PeerId.Parse(id.ToCidString()));
            Assert.Equal(id, PeerId.FromBytes(id.Bytes.Span));
            Assert.True(PeerId.TryParse(id.ToString(), out var parsed) && parsed == id);
            Assert.Equal(id.GetHashCode(), PeerId.Parse(id.ToString()).GetHashCode());
            Assert.StartsWith("bafz", id.ToCidString());
        }
    }

    [Fact]
    public void NonPeerIdCidIsRejected()
    {
        // go-libp2p core/peer/peer_test.go: a raw-codec CID must not decode as a peer id.
        var error = Assert.Throws<PeerIdException>(() => PeerId.Parse("bafkreifoybygix7fh3r3g5rqle3wcnhqldgdg4shzf4k3ulyw3gn7mabt4"));
        Assert.Contains("libp2p-key", error.Message);
        Assert.False(PeerId.TryParse("bafkreifoybygix7fh3r3g5rqle3wcnhqldgdg4shzf4k3ulyw3gn7mabt4", out _));
    }

    [Theory]
    [InlineData("1114" + "0000000000000000000000000000000000000000", "only identity and sha2-256")]   // sha1
    [InlineData("1210" + "00000000000000000000000000000000", "32-byte digest")]                    // truncated sha2-256
    [InlineData("0000", "does not hold a valid public key")]                                         // empty identity
    [InlineData("0004deadbeef", "does not hold a valid public key")]
    [InlineData("1220", "not a valid multihash")]
    [InlineData("", "not a valid multihash")]
    public void InvalidBinaryPeerIds_AreRejected(string hex, string expected)
    {
        var error = Assert.Throws<PeerIdException>(() => PeerId.FromBytes(Hex(hex)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void IdentityIdsLongerThan42BytesAreRejected()
    {
        var ecdsa = PublicKey.FromProtobuf(Hex(SpecEcdsaPublic));
        byte[] inlined = Multihash.Identity(ecdsa.ToProtobuf()).ToBytes();
        Assert.Contains("must be hashed", Assert.Throws<PeerIdException>(() => PeerId.FromBytes(inlined)).Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Qm")]
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5")]   // one character short
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N0")] // '0' is not base58
    [InlineData("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5S")]  // truncated
    [InlineData("not a peer id")]
    [InlineData("zQmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")]  // multibase CIDv0 is not allowed
    public void InvalidTextPeerIds_AreRejected(string text)
    {
        Assert.Throws<PeerIdException>(() => PeerId.Parse(text));
        Assert.False(PeerId.TryParse(text, out _));
    }

    [Fact]
    public void OverlongTextIsRejectedBeforeDecoding()
    {
        Assert.Contains("more than", Assert.Throws<PeerIdException>(() => PeerId.Parse("Qm" + new string('z', 10_000))).Message);
        Assert.Contains("more than", Assert.Throws<PeerIdException>(() => PeerId.Parse("b" + new string('a', 10_000))).Message);
    }

    [Fact]
    public void OrderingFollowsTheBinaryForm()
    {
        var a = PeerId.FromBytes([0x12, 0x20, .. new byte[32]]);
        var b = PeerId.FromBytes([0x12, 0x20, .. Enumerable.Repeat((byte)1, 32)]);
        Assert.True(a.CompareTo(b) < 0);
        Assert.True(b.CompareTo(a) > 0);
        Assert.Equal(0, a.CompareTo(PeerId.FromBytes(a.Bytes.Span)));
        Assert.True(a.CompareTo(null) > 0);
        Assert.True(a != b);
    }
}
