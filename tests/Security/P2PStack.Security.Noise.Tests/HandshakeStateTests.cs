using System.Security.Cryptography;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise.Tests;

public class HandshakeStateTests
{
    public static TheoryData<string> Protocols() => new() { "XX", "XXhfs512", "XXhfs768", "XXhfs1024" };

    internal static NoiseProtocol ProtocolFor(string name) => name switch
    {
        "XX" => NoiseProtocol.XX25519ChaChaPolySha256,
        "XXhfs512" => new NoiseProtocol(HandshakePattern.XXhfs, MLKemNoiseKem.MLKem512),
        "XXhfs768" => new NoiseProtocol(HandshakePattern.XXhfs, MLKemNoiseKem.MLKem768),
        "XXhfs1024" => new NoiseProtocol(HandshakePattern.XXhfs, MLKemNoiseKem.MLKem1024),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Fact]
    public void HybridProtocolNamesFollowTheDraftSpelling()
    {
        Assert.Equal("Noise_XXhfs_25519+MLKEM768_ChaChaPoly_SHA256", ProtocolFor("XXhfs768").Name);
        Assert.Equal("Noise_XXhfs_25519+MLKEM512_ChaChaPoly_SHA256", ProtocolFor("XXhfs512").Name);
        Assert.Equal("Noise_XXhfs_25519+MLKEM1024_ChaChaPoly_SHA256", ProtocolFor("XXhfs1024").Name);
    }

    [Fact]
    public void PatternAndKemMustAgree()
    {
        Assert.Throws<ArgumentException>(() => new NoiseProtocol(HandshakePattern.XXhfs));
        Assert.Throws<ArgumentException>(() => new NoiseProtocol(HandshakePattern.XX, MLKemNoiseKem.MLKem768));
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void RoundTripAgreesOnKeysAndStatics(string name)
    {
        var protocol = ProtocolFor(name);
        var random = new Random(name.GetHashCode(StringComparison.Ordinal));
        using var iStatic = X25519KeyPair.Generate();
        using var rStatic = X25519KeyPair.Generate();
        using var initiator = new HandshakeState(protocol, true, "prologue"u8, iStatic);
        using var responder = new HandshakeState(protocol, false, "prologue"u8, rStatic);
        var messages = RunHandshake(initiator, responder, random);

        if (protocol.Kem is { } kem)
        {
            Assert.Equal(32 + kem.PublicKeyLength, messages[0].Length - PayloadLengths[0]);
            Assert.Equal(32 + kem.CiphertextLength + 16 + 48 + 16, messages[1].Length - PayloadLengths[1]);
        }

        Assert.Equal(iStatic.PublicKey.ToArray(), responder.RemoteStaticPublicKey.ToArray());
        Assert.Equal(rStatic.PublicKey.ToArray(), initiator.RemoteStaticPublicKey.ToArray());
        Assert.Equal(initiator.HandshakeHash.ToArray(), responder.HandshakeHash.ToArray());

        var (iSend, iRecv) = initiator.Split();
        var (rSend, rRecv) = responder.Split();
        for (int i = 0; i < 5; i++)
        {
            var text = new byte[random.Next(0, 2000)];
            random.NextBytes(text);
            var sealedText = new byte[text.Length + 16];
            iSend.EncryptWithAd(default, text, sealedText);
            var opened = new byte[text.Length];
            rRecv.DecryptWithAd(default, sealedText, opened);
            Assert.Equal(text, opened);
            rSend.EncryptWithAd(default, text, sealedText);
            iRecv.DecryptWithAd(default, sealedText, opened);
            Assert.Equal(text, opened);
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void AnyFlippedBitFailsTheHandshakeWithNoiseException(string name)
    {
        var protocol = ProtocolFor(name);
        var random = new Random(12345);
        for (int trial = 0; trial < 24; trial++)
        {
            int target = trial % 3;
            using var iStatic = X25519KeyPair.Generate();
            using var rStatic = X25519KeyPair.Generate();
            using var initiator = new HandshakeState(protocol, true, default, iStatic);
            using var responder = new HandshakeState(protocol, false, default, rStatic);
            var error = Record.Exception(() => RunHandshake(initiator, responder, random, tamperMessage: target));
            Assert.IsType<NoiseException>(error);
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void TruncatedOrRandomMessagesFailWithNoiseException(string name)
    {
        var protocol = ProtocolFor(name);
        var random = new Random(99);
        for (int trial = 0; trial < 40; trial++)
        {
            using var iStatic = X25519KeyPair.Generate();
            using var rStatic = X25519KeyPair.Generate();
            using var initiator = new HandshakeState(protocol, true, default, iStatic);
            using var responder = new HandshakeState(protocol, false, default, rStatic);
            var first = new byte[initiator.GetNextMessageLength(0)];
            initiator.WriteMessage(default, first);
            responder.ReadMessage(first, new byte[first.Length]);
            var second = new byte[responder.GetNextMessageLength(0)];
            responder.WriteMessage(default, second);

            byte[] bad = trial % 2 == 0
                ? second[..random.Next(0, second.Length)]
                : RandomBytes(random, random.Next(0, second.Length + 100));
            Assert.Throws<NoiseException>(() => initiator.ReadMessage(bad, new byte[Math.Max(bad.Length, 1)]));
        }
    }

    [Fact]
    public void LowOrderEphemeralIsRejected()
    {
        using var rStatic = X25519KeyPair.Generate();
        using var responder = new HandshakeState(NoiseProtocol.XX25519ChaChaPolySha256, false, default, rStatic);
        responder.ReadMessage(new byte[32], Span<byte>.Empty); // e = 0: a low-order point
        var reply = new byte[responder.GetNextMessageLength(0)];
        Assert.Throws<NoiseException>(() => responder.WriteMessage(default, reply));
    }

    [Fact]
    public void InvalidKemPublicKeyIsRejectedAsNoiseException()
    {
        var protocol = ProtocolFor("XXhfs768");
        using var rStatic = X25519KeyPair.Generate();
        using var responder = new HandshakeState(protocol, false, default, rStatic);
        using var ephemeral = X25519KeyPair.Generate();
        var first = new byte[32 + 1184];
        ephemeral.PublicKey.CopyTo(first);
        first.AsSpan(32).Fill(0xFF); // coefficients >= q fail the FIPS 203 modulus check
        responder.ReadMessage(first, Span<byte>.Empty);
        var reply = new byte[responder.GetNextMessageLength(0)];
        Assert.Throws<NoiseException>(() => responder.WriteMessage(default, reply));
    }

    [Fact]
    public void OutOfOrderCallsThrowInvalidOperation()
    {
        using var s = X25519KeyPair.Generate();
        using var initiator = new HandshakeState(NoiseProtocol.XX25519ChaChaPolySha256, true, default, s);
        Assert.Throws<InvalidOperationException>(() => initiator.ReadMessage(new byte[32], new byte[32]));
        Assert.Throws<InvalidOperationException>(() => initiator.Split());
        initiator.WriteMessage(default, new byte[32]);
        Assert.Throws<InvalidOperationException>(() => initiator.WriteMessage(default, new byte[100]));
    }

    [Fact]
    public void HkdfMatchesRfc5869WithEmptyInfo()
    {
        var random = new Random(7);
        Span<byte> o1 = stackalloc byte[32];
        Span<byte> o2 = stackalloc byte[32];
        for (int i = 0; i < 20; i++)
        {
            var ck = RandomBytes(random, 32);
            var ikm = RandomBytes(random, random.Next(0, 80));
            SymmetricState.Hkdf2(ck, ikm, o1, o2);
            var expected = HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, 64, ck, []);
            Assert.Equal(expected[..32], o1.ToArray());
            Assert.Equal(expected[32..], o2.ToArray());
        }
    }

    [Fact]
    public void CipherStateNonceIsFourZeroBytesThenLittleEndianCounter()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        using var cipher = new CipherState();
        cipher.InitializeKey(key);
        using var reference = new ChaCha20Poly1305(key);
        var ad = "ad"u8.ToArray();
        for (ulong n = 0; n < 300; n++)
        {
            var text = BitConverter.GetBytes(n);
            var actual = new byte[text.Length + 16];
            cipher.EncryptWithAd(ad, text, actual);
            var nonce = new byte[12];
            BitConverter.TryWriteBytes(nonce.AsSpan(4), n); // little-endian on every .NET platform we run
            var expected = new byte[text.Length + 16];
            reference.Encrypt(nonce, text, expected.AsSpan(0, text.Length), expected.AsSpan(text.Length), ad);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void CipherStateEncryptsInPlace()
    {
        using var a = new CipherState();
        using var b = new CipherState();
        var key = RandomNumberGenerator.GetBytes(32);
        a.InitializeKey(key);
        b.InitializeKey(key);
        var buffer = new byte[64 + 16];
        RandomNumberGenerator.Fill(buffer.AsSpan(0, 64));
        var original = buffer[..64];
        a.EncryptWithAd(default, buffer.AsSpan(0, 64), buffer);
        Assert.NotEqual(original, buffer[..64]);
        var opened = new byte[64];
        b.DecryptWithAd(default, buffer, opened);
        Assert.Equal(original, opened);
    }

    private static readonly int[] PayloadLengths = [0, 17, 300];

    private static byte[][] RunHandshake(HandshakeState initiator, HandshakeState responder, Random random,
        int tamperMessage = -1)
    {
        var messages = new byte[3][];
        for (int m = 0; m < 3; m++)
        {
            var (writer, reader) = m % 2 == 0 ? (initiator, responder) : (responder, initiator);
            var payload = RandomBytes(random, PayloadLengths[m]);
            var message = new byte[writer.GetNextMessageLength(payload.Length)];
            Assert.Equal(message.Length, writer.WriteMessage(payload, message));
            if (m == tamperMessage)
            {
                message[random.Next(message.Length)] ^= (byte)(1 << random.Next(8));
            }

            var received = new byte[message.Length];
            int length = reader.ReadMessage(message, received);
            Assert.Equal(payload, received[..length]);
            messages[m] = message;
        }

        Assert.True(initiator.IsCompleted && responder.IsCompleted);
        return messages;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
