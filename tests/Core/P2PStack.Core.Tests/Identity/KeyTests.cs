using P2PStack.Identity;

namespace P2PStack.Tests.Identity;

public class KeyTests
{
    public static TheoryData<KeyType> AllTypes => new() { KeyType.Ed25519, KeyType.Secp256k1, KeyType.Ecdsa, KeyType.Rsa };

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void GeneratedKeys_RoundTripThroughProtobuf(KeyType type)
    {
        using var key = PrivateKey.Generate(type);
        Assert.Equal(type, key.Type);
        using var decoded = PrivateKey.FromProtobuf(key.ToProtobuf());
        Assert.Equal(key.PublicKey, decoded.PublicKey);
        Assert.Equal(key.ToProtobuf(), decoded.ToProtobuf());

        var publicKey = PublicKey.FromProtobuf(key.PublicKey.ToProtobuf());
        Assert.Equal(key.PublicKey, publicKey);
        Assert.Equal(key.PublicKey.GetHashCode(), publicKey.GetHashCode());
        Assert.Equal(publicKey, PublicKey.FromRaw(type, publicKey.Raw.Span));
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void SignVerify_RoundTripsAndFailsOnAnyFlippedBit(KeyType type)
    {
        using var key = PrivateKey.Generate(type);
        var random = new Random(1234 + (int)type);
        for (int round = 0; round < 3; round++)
        {
            byte[] message = new byte[random.Next(0, 300)];
            random.NextBytes(message);
            byte[] signature = key.Sign(message);
            Assert.True(key.PublicKey.Verify(message, signature));

            var destination = new byte[2048].AsSpan();
            int written = key.Sign(message, destination);
            Assert.True(key.PublicKey.Verify(message, destination[..written]));

            byte[] badSignature = (byte[])signature.Clone();
            badSignature[random.Next(badSignature.Length)] ^= (byte)(1 << random.Next(8));
            Assert.False(key.PublicKey.Verify(message, badSignature));

            if (message.Length > 0)
            {
                byte[] badMessage = (byte[])message.Clone();
                badMessage[random.Next(badMessage.Length)] ^= (byte)(1 << random.Next(8));
                Assert.False(key.PublicKey.Verify(badMessage, signature));
            }
            Assert.False(key.PublicKey.Verify(message, signature.AsSpan(0, signature.Length - 1)));
            Assert.False(key.PublicKey.Verify(message, ReadOnlySpan<byte>.Empty));
        }
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void SignaturesFromAnotherKeyDoNotVerify(KeyType type)
    {
        using var a = PrivateKey.Generate(type);
        using var b = PrivateKey.Generate(type);
        Assert.NotEqual(a.PublicKey, b.PublicKey);
        Assert.False(b.PublicKey.Verify([1, 2, 3], a.Sign([1, 2, 3])));
    }

    [Fact]
    public void DisposedKeyRefusesToSign()
    {
        var key = PrivateKey.Generate();
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.Sign([1]));
        Assert.Throws<ObjectDisposedException>(() => key.ToProtobuf());
        key.Dispose();
    }

    [Fact]
    public void DisposeZeroesTheEd25519Seed()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var field = typeof(Ed25519PrivateKey).GetField("_seed", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        byte[] seed = (byte[])field.GetValue(key)!;
        Assert.Contains(seed, b => b != 0);
        key.Dispose();
        Assert.All(seed, b => Assert.Equal(0, b));
    }

    [Fact]
    public void RsaGenerateHonoursBounds()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RsaPrivateKey.Generate(1024));
        Assert.Throws<ArgumentOutOfRangeException>(() => RsaPrivateKey.Generate(16384));
    }

    [Theory]
    [InlineData("", "too short")]
    [InlineData("0801", "too short")]
    [InlineData("1001122000", "must start with the Type field")]
    [InlineData("080412020000", "unsupported public key type 4")]
    [InlineData("0801102000000000", "Data field")]
    [InlineData("08011221000000", "truncated")]
    [InlineData("080112800000", "not minimally encoded")]
    [InlineData("08011201aabb", "unexpected bytes after Data")]
    [InlineData("0801120100", "must be 32 bytes")]
    public void MalformedPublicKeyProtobufs_ThrowWithClearMessage(string hex, string expected)
    {
        var error = Assert.Throws<KeyFormatException>(() => PublicKey.FromProtobuf(Convert.FromHexString(hex)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void NonCanonicalFieldOrderIsRejected()
    {
        // Data before Type: valid protobuf, but not the deterministic encoding peer ids are hashed from.
        byte[] canonical = Convert.FromHexString(KeyVectors.SpecEd25519Public);
        byte[] reordered = [.. canonical[2..], .. canonical[..2]];
        Assert.Throws<KeyFormatException>(() => PublicKey.FromProtobuf(reordered));
    }

    [Fact]
    public void EqualityOperatorsAndHashing()
    {
        var a = PublicKey.FromProtobuf(Convert.FromHexString(KeyVectors.SpecEd25519Public));
        var b = PublicKey.FromProtobuf(Convert.FromHexString(KeyVectors.SpecEd25519Public));
        var c = PublicKey.FromProtobuf(Convert.FromHexString(KeyVectors.SpecSecp256k1Public));
        Assert.True(a == b);
        Assert.True(a != c);
        Assert.False(a.Equals(null));
        Assert.Single(new HashSet<PublicKey> { a, b });
    }
}
