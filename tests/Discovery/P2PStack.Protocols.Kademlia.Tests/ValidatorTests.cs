using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Protocols.Kademlia.Tests;

public class ValidatorTests
{
    private readonly NamespacedValidator _validator = new KademliaOptions().Validator;

    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa)]
    public void PublicKeyRecordOfTheMatchingPeerIsValid(KeyType type)
    {
        using var key = PrivateKey.Generate(type);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        byte[] recordKey = PublicKeyValidator.KeyFor(peer);
        Assert.Equal("/pk/"u8.ToArray(), recordKey[..4]);
        _validator.Validate(recordKey, key.PublicKey.ToProtobuf());
        Assert.Equal(0, _validator.Select(recordKey, [key.PublicKey.ToProtobuf(), key.PublicKey.ToProtobuf()]));
    }

    [Fact]
    public void PublicKeyRecordOfAnotherPeerIsInvalid()
    {
        using var key = PrivateKey.Generate();
        using var other = PrivateKey.Generate();
        var error = Assert.Throws<InvalidRecordException>(() =>
            _validator.Validate(PublicKeyValidator.KeyFor(PeerId.FromPublicKey(other.PublicKey)), key.PublicKey.ToProtobuf()));
        Assert.Contains("does not match", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("pk")]
    [InlineData("/pk")]
    [InlineData("//x")]
    [InlineData("/unknown/abc")]
    public void KeysWithoutAKnownNamespaceAreInvalid(string key) =>
        Assert.Throws<InvalidRecordException>(() => _validator.Validate(System.Text.Encoding.UTF8.GetBytes(key), [1, 2, 3]));

    [Fact]
    public void MalformedPublicKeyRecordsAreInvalid()
    {
        using var key = PrivateKey.Generate();
        var peer = PeerId.FromPublicKey(key.PublicKey);
        Assert.Throws<InvalidRecordException>(() => _validator.Validate("/pk/\x01\x02"u8.ToArray(), key.PublicKey.ToProtobuf()));
        Assert.Throws<InvalidRecordException>(() => _validator.Validate(PublicKeyValidator.KeyFor(peer), [8, 1, 18, 3, 1, 2]));
        var random = new Random(5);
        for (int i = 0; i < 500; i++)
        {
            var value = key.PublicKey.ToProtobuf();
            value[random.Next(value.Length)] ^= (byte)(1 << random.Next(8));
            Assert.Throws<InvalidRecordException>(() => _validator.Validate(PublicKeyValidator.KeyFor(peer), value));
        }
    }
}
