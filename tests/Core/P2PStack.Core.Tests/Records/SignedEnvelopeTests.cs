using P2PStack.Identity;
using P2PStack.Records;
using P2PStack.Tests.Identity;
using static P2PStack.Tests.Records.RecordVectors;

namespace P2PStack.Tests.Records;

public class SignedEnvelopeTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex);
    private static byte[] Utf8(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    [Theory]
    [InlineData(KeyVectors.SpecEd25519Private, Ed25519CustomEnvelope)]
    [InlineData(KeyVectors.SpecSecp256k1Private, Secp256k1CustomEnvelope)]
    public void JsLibp2pEnvelopes_OpenAndAreReproducedExactly(string privateHex, string envelopeHex)
    {
        var envelope = SignedEnvelope.Open(Hex(envelopeHex), "libp2p-testing");
        Assert.Equal(Utf8("/libp2p/testdata"), envelope.PayloadType.ToArray());
        Assert.Equal(Utf8("hello world!"), envelope.Payload.ToArray());
        Assert.Equal(Hex(envelopeHex), envelope.ToBytes());

        using var key = PrivateKey.FromProtobuf(Hex(privateHex));
        Assert.Equal(key.PublicKey, envelope.PublicKey);
        Assert.Equal(PeerId.FromPublicKey(key.PublicKey), envelope.Signer);
        var ours = SignedEnvelope.Seal("libp2p-testing", Utf8("/libp2p/testdata"), Utf8("hello world!"), key);
        Assert.Equal(Hex(envelopeHex), ours.ToBytes());
    }

    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa)]
    public void SealOpen_RoundTripsForEveryKeyType(KeyType type)
    {
        using var key = PrivateKey.Generate(type);
        var sealed_ = SignedEnvelope.Seal("test-domain", [0x03, 0x01], Utf8("payload"), key);
        var opened = SignedEnvelope.Open(sealed_.ToBytes(), "test-domain");
        Assert.Equal(key.PublicKey, opened.PublicKey);
        Assert.Equal(sealed_.Payload.ToArray(), opened.Payload.ToArray());
        Assert.Equal(sealed_.Signature.ToArray(), opened.Signature.ToArray());
        Assert.Equal(PeerId.FromPublicKey(key.PublicKey), opened.Signer);
    }

    [Fact]
    public void WrongDomain_FailsWithAClearMessage()
    {
        byte[] encoded = Hex(Ed25519CustomEnvelope);
        var error = Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(encoded, "libp2p-testinG"));
        Assert.Contains("does not verify for domain", error.Message);
    }

    [Fact]
    public void SignatureCoversLengthPrefixes_NotJustTheConcatenation()
    {
        // Moving a byte between payload type and payload keeps the concatenation but changes the signed buffer.
        using var key = PrivateKey.Generate();
        var original = SignedEnvelope.Seal("d", [1, 2], [3, 4], key);
        var forged = new Pb.EnvelopeBuilder(original) { PayloadType = [1], Payload = [2, 3, 4] }.Build();
        Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(forged, "d"));
    }

    [Fact]
    public void EveryFlippedBitInPayloadTypeSignatureOrKeyIsRejected()
    {
        using var key = PrivateKey.Generate();
        byte[] encoded = SignedEnvelope.Seal("flip", Utf8("/type"), Utf8("the payload"), key).ToBytes();
        for (int i = 0; i < encoded.Length; i++)
            for (int bit = 0; bit < 8; bit++)
            {
                byte[] mutated = (byte[])encoded.Clone();
                mutated[i] ^= (byte)(1 << bit);
                Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(mutated, "flip"));
            }
    }

    [Fact]
    public void OversizedEnvelopesAreRefusedBeforeParsing()
    {
        byte[] big = new byte[SignedEnvelope.DefaultMaxSize + 1];
        Assert.Contains("more than", Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(big, "d")).Message);
        byte[] valid = Hex(Ed25519CustomEnvelope);
        Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(valid, "libp2p-testing", maxSize: valid.Length - 1));
        Assert.NotNull(SignedEnvelope.Open(valid, "libp2p-testing", maxSize: valid.Length));
    }

    [Fact]
    public void MalformedEnvelopes_SayWhatIsMissing()
    {
        using var key = PrivateKey.Generate();
        var good = SignedEnvelope.Seal("d", [9], [1], key);
        Assert.Contains("no (complete) public key",
            Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(new Pb.EnvelopeBuilder(good) { OmitKey = true }.Build(), "d")).Message);
        Assert.Contains("empty payload type",
            Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(new Pb.EnvelopeBuilder(good) { PayloadType = [] }.Build(), "d")).Message);
        Assert.Contains("no signature",
            Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(new Pb.EnvelopeBuilder(good) { Signature = [] }.Build(), "d")).Message);
        Assert.Contains("public key is invalid",
            Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open(new Pb.EnvelopeBuilder(good) { KeyData = [1, 2, 3] }.Build(), "d")).Message);
        Assert.Contains("not a valid protobuf", Assert.Throws<EnvelopeException>(() => SignedEnvelope.Open([0x0a, 0x05, 0x01], "d")).Message);
    }

    [Fact]
    public void SealRefusesEmptyDomainOrPayloadType()
    {
        using var key = PrivateKey.Generate();
        Assert.Throws<ArgumentException>(() => SignedEnvelope.Seal("", [1], [1], key));
        Assert.Throws<ArgumentException>(() => SignedEnvelope.Seal("d", [], [1], key));
    }

    [Fact]
    public void EmptyPayloadIsAllowed()
    {
        using var key = PrivateKey.Generate();
        var envelope = SignedEnvelope.Open(SignedEnvelope.Seal("d", [1], [], key).ToBytes(), "d");
        Assert.True(envelope.Payload.IsEmpty);
    }
}
