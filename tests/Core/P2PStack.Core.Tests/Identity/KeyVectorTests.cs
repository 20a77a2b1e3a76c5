using P2PStack.Identity;
using static P2PStack.Tests.Identity.KeyVectors;

namespace P2PStack.Tests.Identity;

public class KeyVectorTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    public static TheoryData<KeyType, string, string> SpecPairs => new()
    {
        { KeyType.Ecdsa, SpecEcdsaPrivate, SpecEcdsaPublic },
        { KeyType.Ed25519, SpecEd25519Private, SpecEd25519Public },
        { KeyType.Secp256k1, SpecSecp256k1Private, SpecSecp256k1Public },
        { KeyType.Rsa, SpecRsaPrivate, SpecRsaPublic },
    };

    [Theory]
    [MemberData(nameof(SpecPairs))]
    public void SpecVectors_DecodeDerivePublicKeyAndReencodeExactly(KeyType type, string privateHex, string publicHex)
    {
        using var privateKey = PrivateKey.FromProtobuf(Hex(privateHex));
        var publicKey = PublicKey.FromProtobuf(Hex(publicHex));

        Assert.Equal(type, privateKey.Type);
        Assert.Equal(type, publicKey.Type);
        Assert.Equal(publicKey, privateKey.PublicKey);
        Assert.Equal(Hex(publicHex), publicKey.ToProtobuf());
        Assert.Equal(Hex(publicHex), privateKey.PublicKey.ToProtobuf());
        Assert.Equal(Hex(privateHex), privateKey.ToProtobuf());
    }

    [Theory]
    [MemberData(nameof(SpecPairs))]
    public void SpecVectors_SignAndVerify(KeyType type, string privateHex, string publicHex)
    {
        using var privateKey = PrivateKey.FromProtobuf(Hex(privateHex));
        var publicKey = PublicKey.FromProtobuf(Hex(publicHex));
        byte[] message = System.Text.Encoding.UTF8.GetBytes($"message for {type}");
        byte[] signature = privateKey.Sign(message);
        Assert.True(publicKey.Verify(message, signature));
        message[0] ^= 1;
        Assert.False(publicKey.Verify(message, signature));
    }

    public static TheoryData<KeyType, string, string, string, bool> GoFixtures => new()
    {
        { KeyType.Rsa, GoRsaPrivate, GoRsaPublic, GoRsaSignature, true },
        { KeyType.Secp256k1, GoSecp256k1Private, GoSecp256k1Public, GoSecp256k1Signature, true },
        { KeyType.Ecdsa, GoEcdsaPrivate, GoEcdsaPublic, GoEcdsaSignature, false },
    };

    [Theory]
    [MemberData(nameof(GoFixtures))]
    public void GoFixtures_RoundTripAndVerify(KeyType type, string privateHex, string publicHex, string signatureHex, bool deterministic)
    {
        byte[] message = System.Text.Encoding.UTF8.GetBytes(GoFixtureMessage);
        using var privateKey = PrivateKey.FromProtobuf(Hex(privateHex));
        var publicKey = PublicKey.FromProtobuf(Hex(publicHex));
        Assert.Equal(type, publicKey.Type);
        Assert.Equal(Hex(publicHex), publicKey.ToProtobuf());
        Assert.Equal(Hex(privateHex), privateKey.ToProtobuf());
        Assert.Equal(publicKey, privateKey.PublicKey);

        Assert.True(publicKey.Verify(message, Hex(signatureHex)));
        byte[] ours = privateKey.Sign(message);
        Assert.True(publicKey.Verify(message, ours));
        if (deterministic) Assert.Equal(Hex(signatureHex), ours);
    }

    [Fact]
    public void Ed25519_Rfc8032TestVector1()
    {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        byte[] seed = Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        byte[] expectedPublic = Hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        byte[] expectedSignature = Hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
        using var key = Ed25519PrivateKey.FromSeed(seed);
        Assert.Equal(expectedPublic, key.PublicKey.Raw.ToArray());
        Assert.Equal(expectedSignature, key.Sign(ReadOnlySpan<byte>.Empty));
        Assert.True(key.PublicKey.Verify(ReadOnlySpan<byte>.Empty, expectedSignature));
    }

    [Fact]
    public void Ed25519_NonCanonicalSIsRejected()
    {
        // S + L verifies under a naive check; RFC 8032 (and go's crypto/ed25519) require S < L.
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        byte[] message = [1, 2, 3];
        byte[] signature = key.Sign(message);
        var order = System.Numerics.BigInteger.Parse("7237005577332262213973186563042994240857116359379907606001950938285454250989");
        var s = new System.Numerics.BigInteger(signature.AsSpan(32), isUnsigned: true, isBigEndian: false);
        byte[] malleable = (byte[])signature.Clone();
        var sPlusL = (s + order).ToByteArray(isUnsigned: true, isBigEndian: false);
        Array.Clear(malleable, 32, 32);
        sPlusL.CopyTo(malleable, 32);
        Assert.True(key.PublicKey.Verify(message, signature));
        Assert.False(key.PublicKey.Verify(message, malleable));
    }

    [Fact]
    public void Ed25519_Legacy96ByteFormIsAcceptedWhenBothPublicCopiesAgree()
    {
        byte[] modern = Hex(SpecEd25519Private)[4..];
        byte[] legacy = [.. modern, .. modern[32..]];
        using var key = PrivateKey.FromRaw(KeyType.Ed25519, legacy);
        Assert.Equal(Hex(SpecEd25519Private), key.ToProtobuf());

        legacy[^1] ^= 1;
        Assert.Throws<KeyFormatException>(() => PrivateKey.FromRaw(KeyType.Ed25519, legacy));
    }

    [Fact]
    public void Ed25519_PrivateKeyWhosePublicHalfDoesNotMatchTheSeedIsRejected()
    {
        byte[] data = Hex(SpecEd25519Private)[4..];
        data[40] ^= 0x10;
        var error = Assert.Throws<KeyFormatException>(() => PrivateKey.FromRaw(KeyType.Ed25519, data));
        Assert.Contains("does not match", error.Message);
    }

    [Fact]
    public void Secp256k1_UncompressedPublicKeyIsAcceptedAndCanonicalizedToCompressed()
    {
        using var key = (Secp256k1PrivateKey)PrivateKey.FromProtobuf(Hex(SpecSecp256k1Private));
        byte[] compressed = key.PublicKey.Raw.ToArray();
        var point = Org.BouncyCastle.Crypto.EC.CustomNamedCurves.GetByName("secp256k1").Curve.DecodePoint(compressed);
        byte[] uncompressed = point.GetEncoded(false);
        var decoded = PublicKey.FromRaw(KeyType.Secp256k1, uncompressed);
        Assert.Equal(key.PublicKey, decoded);
        Assert.Equal(compressed, decoded.Raw.ToArray());
    }

    [Fact]
    public void Secp256k1_SignaturesAreLowSAndHighSStillVerifies()
    {
        using var key = PrivateKey.Generate(KeyType.Secp256k1);
        var n = Org.BouncyCastle.Crypto.EC.CustomNamedCurves.GetByName("secp256k1").N;
        for (int i = 0; i < 8; i++)
        {
            byte[] message = [(byte)i, 1, 2, 3];
            byte[] signature = key.Sign(message);
            ParseDer(signature, out var r, out var s);
            Assert.True(s.CompareTo(n.ShiftRight(1)) <= 0);
            byte[] highS = DerOf(r, n.Subtract(s));
            Assert.True(key.PublicKey.Verify(message, highS)); // accepted, as go-libp2p does
        }
    }

    [Fact]
    public void Secp256k1_NonMinimalDerSignatureIsRejected()
    {
        using var key = PrivateKey.Generate(KeyType.Secp256k1);
        byte[] message = [9, 9, 9];
        ParseDer(key.Sign(message), out var r, out var s);
        byte[] rBytes = [0, .. r.ToByteArray()]; // extra leading zero
        byte[] sBytes = s.ToByteArray();
        byte[] padded = [0x30, (byte)(4 + rBytes.Length + sBytes.Length), 0x02, (byte)rBytes.Length, .. rBytes, 0x02, (byte)sBytes.Length, .. sBytes];
        Assert.False(key.PublicKey.Verify(message, padded));
        byte[] trailing = [.. key.Sign(message), 0];
        Assert.False(key.PublicKey.Verify(message, trailing));
    }

    private static void ParseDer(byte[] der, out Org.BouncyCastle.Math.BigInteger r, out Org.BouncyCastle.Math.BigInteger s)
    {
        var sequence = (Org.BouncyCastle.Asn1.Asn1Sequence)Org.BouncyCastle.Asn1.Asn1Object.FromByteArray(der);
        r = ((Org.BouncyCastle.Asn1.DerInteger)sequence[0]).Value;
        s = ((Org.BouncyCastle.Asn1.DerInteger)sequence[1]).Value;
    }

    private static byte[] DerOf(Org.BouncyCastle.Math.BigInteger r, Org.BouncyCastle.Math.BigInteger s) =>
        new Org.BouncyCastle.Asn1.DerSequence(new Org.BouncyCastle.Asn1.DerInteger(r), new Org.BouncyCastle.Asn1.DerInteger(s)).GetEncoded();

    [Fact]
    public void Secp256k1_ZeroAndOutOfRangeScalarsAreRejected()
    {
        Assert.Throws<KeyFormatException>(() => PrivateKey.FromRaw(KeyType.Secp256k1, new byte[32]));
        Assert.Throws<KeyFormatException>(() => PrivateKey.FromRaw(KeyType.Secp256k1, Enumerable.Repeat((byte)0xff, 32).ToArray()));
        Assert.Throws<KeyFormatException>(() => PrivateKey.FromRaw(KeyType.Secp256k1, new byte[31]));
    }

    [Fact]
    public void Rsa_KeysBelow2048BitsAreRejected()
    {
        using var small = System.Security.Cryptography.RSA.Create(1024);
        var error = Assert.Throws<KeyFormatException>(() => PublicKey.FromRaw(KeyType.Rsa, small.ExportSubjectPublicKeyInfo()));
        Assert.Contains("fewer than", error.Message);
        Assert.Throws<KeyFormatException>(() => PrivateKey.FromRaw(KeyType.Rsa, small.ExportRSAPrivateKey()));
    }

    [Fact]
    public void Rsa_KeysAbove8192BitsAreRejected()
    {
        // A public key only needs a modulus; no need to generate a real 9000-bit key.
        var parameters = new System.Security.Cryptography.RSAParameters
        {
            Modulus = Enumerable.Repeat((byte)0xC3, 9000 / 8).ToArray(),
            Exponent = [1, 0, 1],
        };
        using var big = System.Security.Cryptography.RSA.Create();
        big.ImportParameters(parameters);
        var error = Assert.Throws<KeyFormatException>(() => PublicKey.FromRaw(KeyType.Rsa, big.ExportSubjectPublicKeyInfo()));
        Assert.Contains("more than", error.Message);
    }

    [Fact]
    public void Ecdsa_UnsupportedCurveIsRejected()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.CreateFromFriendlyName("secP256k1"));
        Assert.Throws<KeyFormatException>(() => PublicKey.FromRaw(KeyType.Ecdsa, key.ExportSubjectPublicKeyInfo()));
    }

    [Fact]
    public void Ecdsa_P384KeysWork()
    {
        using var platform = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP384);
        using var key = PrivateKey.FromRaw(KeyType.Ecdsa, platform.ExportECPrivateKey());
        var publicKey = PublicKey.FromRaw(KeyType.Ecdsa, platform.ExportSubjectPublicKeyInfo());
        Assert.Equal(publicKey, key.PublicKey);
        Assert.True(publicKey.Verify([1, 2, 3], key.Sign([1, 2, 3])));
    }
}
