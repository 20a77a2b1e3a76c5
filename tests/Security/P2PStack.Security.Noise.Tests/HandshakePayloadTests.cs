using FsCheck;
using FsCheck.Fluent;
using P2PStack.Conformance.Security;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise.Tests;

public class HandshakePayloadTests
{
    private static readonly TestIdentity Identity = TestIdentity.Generate();
    private static readonly byte[] StaticKey = X25519KeyPair.Generate().PublicKey.ToArray();

    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa)]
    public void SignedPayloadVerifiesAndNamesThePeer(KeyType type)
    {
        var identity = TestIdentity.Generate(type);
        var payload = HandshakePayload.Create(identity.PrivateKey, StaticKey, ["/yamux/1.0.0"]);
        var remote = HandshakePayload.Verify(payload, StaticKey);
        Assert.Equal(identity.PeerId, remote.PeerId);
        Assert.Equal(identity.PrivateKey.PublicKey, remote.PublicKey);
        Assert.Equal(["/yamux/1.0.0"], remote.Muxers);
    }

    [Fact]
    public void SignatureCoversThePrefixedStaticKey()
    {
        var payload = Pb.NoiseHandshakePayload.Parser.ParseFrom(HandshakePayload.Create(Identity.PrivateKey, StaticKey, []));
        byte[] signed = [.. "noise-libp2p-static-key:"u8, .. StaticKey];
        Assert.True(Identity.PrivateKey.PublicKey.Verify(signed, payload.IdentitySig.Span));
        Assert.Null(payload.Extensions); // no muxers: no extensions field at all
    }

    [Fact]
    public void PayloadForAnotherStaticKeyIsRejected()
    {
        var payload = HandshakePayload.Create(Identity.PrivateKey, StaticKey, []);
        var other = X25519KeyPair.Generate().PublicKey.ToArray();
        Assert.Throws<HandshakeException>(() => HandshakePayload.Verify(payload, other));
    }

    [Fact]
    public void RandomBytesFailOnlyWithHandshakeException()
    {
        Prop.ForAll<byte[]>(bytes =>
        {
            var error = Record.Exception(() => HandshakePayload.Verify(bytes, StaticKey));
            return error is HandshakeException;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void MutatedValidPayloadsFailOnlyWithHandshakeException()
    {
        var valid = HandshakePayload.Create(Identity.PrivateKey, StaticKey, ["/yamux/1.0.0", "/mplex/6.7.0"]);
        var random = new Random(2024);
        for (int i = 0; i < 2000; i++)
        {
            var mutated = (byte[])valid.Clone();
            int edits = random.Next(1, 4);
            for (int e = 0; e < edits; e++)
            {
                mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
            }

            if (i % 3 == 0)
            {
                mutated = mutated[..random.Next(mutated.Length)];
            }

            var error = Record.Exception(() => HandshakePayload.Verify(mutated, StaticKey));
            // A mutation may land in the muxer strings only; then the payload still verifies.
            Assert.True(error is null or HandshakeException, $"unexpected {error?.GetType().Name}: {error?.Message}");
        }
    }

    /// <summary>
    /// A muxer name that is not UTF-8, in a payload whose signature verifies (the muxers are not signed), is refused as
    /// malformed. Google.Protobuf 3.36 refuses the string with <see cref="Google.Protobuf.InvalidProtocolBufferException"/>
    /// (the <see cref="System.Text.DecoderFallbackException"/> inside it), which Verify turns into the handshake's error;
    /// 3.25.1 decoded it leniently (U+FFFD) and the payload verified. The <c>noise-session</c> fuzz target's
    /// "DecoderFallbackException" was that inner exception, met by its cause walk (a harness error, fuzz/README.md).
    /// </summary>
    [Fact]
    public void MuxerNameThatIsNotUtf8IsAMalformedPayload()
    {
        var payload = HandshakePayload.Create(Identity.PrivateKey, StaticKey, ["/yamux/1.0.0"]);
        Assert.Equal(["/yamux/1.0.0"], HandshakePayload.Verify(payload, StaticKey).Muxers);
        // extensions (field 4) holding stream_muxers (field 2) = the single byte 0xFF, merged into the signed payload.
        byte[] bad = [.. payload, 0x22, 0x03, 0x12, 0x01, 0xFF];
        var e = Assert.Throws<HandshakeException>(() => HandshakePayload.Verify(bad, StaticKey));
        Assert.Contains("malformed", e.Message, StringComparison.Ordinal);
        var protobuf = Assert.IsType<Google.Protobuf.InvalidProtocolBufferException>(e.InnerException);
        Assert.IsType<System.Text.DecoderFallbackException>(protobuf.InnerException);
    }
}
