using System.Formats.Asn1;
using System.Security.Cryptography;
using PlatformMLKem = System.Security.Cryptography.MLKem;

namespace P2PStack.Crypto.MLKem.Tests;

public class PropertyTests
{
    public static TheoryData<string> Algorithms => new() { "ML-KEM-512", "ML-KEM-768", "ML-KEM-1024" };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void RandomRoundTrips(string name)
    {
        MLKemAlgorithm alg = AcvpTests.AlgorithmOf(name);
        for (int i = 0; i < 25; i++)
        {
            using ManagedMLKem receiver = ManagedMLKem.GenerateKey(alg);
            using ManagedMLKem sender = ManagedMLKem.ImportEncapsulationKey(alg, receiver.ExportEncapsulationKey());
            sender.Encapsulate(out byte[] ciphertext, out byte[] secret);
            Assert.Equal(secret, receiver.Decapsulate(ciphertext));
            using ManagedMLKem reimported = ManagedMLKem.ImportDecapsulationKey(alg, receiver.ExportDecapsulationKey());
            Assert.Equal(secret, reimported.Decapsulate(ciphertext));
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void TamperedCiphertextGivesImplicitRejectionSecret(string name)
    {
        MLKemAlgorithm alg = AcvpTests.AlgorithmOf(name);
        var random = new Random(name.Length);
        using ManagedMLKem key = ManagedMLKem.GenerateKey(alg);
        byte[] z = key.ExportDecapsulationKey()[^32..];
        for (int i = 0; i < 40; i++)
        {
            key.Encapsulate(out byte[] ciphertext, out byte[] secret);
            byte[] tampered = (byte[])ciphertext.Clone();
            int position = random.Next(tampered.Length);
            tampered[position] ^= (byte)(1 << random.Next(8));
            byte[] rejected = key.Decapsulate(tampered);
            Assert.NotEqual(secret, rejected);
            Assert.Equal(Shake256.HashData([.. z, .. tampered], 32), rejected);
            Assert.Equal(secret, key.Decapsulate(ciphertext));
        }
    }

    [Fact]
    public void EncapsulationOnlyKeyCannotDecapsulateOrExportPrivateParts()
    {
        using ManagedMLKem full = ManagedMLKem.GenerateKey(MLKemAlgorithm.MLKem768);
        using ManagedMLKem pub = ManagedMLKem.ImportEncapsulationKey(MLKemAlgorithm.MLKem768, full.ExportEncapsulationKey());
        Assert.False(pub.HasDecapsulationKey);
        Assert.Throws<CryptographicException>(() => pub.Decapsulate(new byte[1088]));
        Assert.Throws<CryptographicException>(() => pub.ExportDecapsulationKey());
        Assert.Throws<CryptographicException>(() => pub.ExportPrivateSeed());
        using ManagedMLKem fromDk = ManagedMLKem.ImportDecapsulationKey(MLKemAlgorithm.MLKem768, full.ExportDecapsulationKey());
        Assert.Throws<CryptographicException>(() => fromDk.ExportPrivateSeed());
    }

    [Fact]
    public void ModulusAndHashChecksGiveClearErrors()
    {
        using ManagedMLKem key = ManagedMLKem.GenerateKey(MLKemAlgorithm.MLKem512);
        byte[] ek = key.ExportEncapsulationKey();
        ek[0] = 0xFF;
        ek[1] |= 0x0F; // first coefficient = 4095 >= q
        var e1 = Assert.Throws<CryptographicException>(() => ManagedMLKem.ImportEncapsulationKey(MLKemAlgorithm.MLKem512, ek));
        Assert.Contains("modulus check", e1.Message);
        byte[] dk = key.ExportDecapsulationKey();
        dk[^40] ^= 1; // inside H(ek)
        var e2 = Assert.Throws<CryptographicException>(() => ManagedMLKem.ImportDecapsulationKey(MLKemAlgorithm.MLKem512, dk));
        Assert.Contains("hash check", e2.Message);
        Assert.Throws<ArgumentException>(() => ManagedMLKem.ImportPrivateSeed(MLKemAlgorithm.MLKem512, new byte[63]));
    }

    [Fact]
    public void DisposeZeroesAndBlocksUse()
    {
        ManagedMLKem key = ManagedMLKem.GenerateKey(MLKemAlgorithm.MLKem768);
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.ExportDecapsulationKey());
        Assert.Throws<ObjectDisposedException>(() => key.Encapsulate(new byte[32], new byte[1088], new byte[32]));
    }

    [Fact]
    public void Pkcs8ExportUsesSeedForm()
    {
        using ManagedMLKem key = ManagedMLKem.GenerateKey(MLKemAlgorithm.MLKem1024);
        byte[] pkcs8 = key.ExportPkcs8PrivateKey();
        var reader = new AsnReader(pkcs8, AsnEncodingRules.DER).ReadSequence();
        Assert.Equal(0, (int)reader.ReadInteger());
        Assert.Equal("2.16.840.1.101.3.4.4.3", reader.ReadSequence().ReadObjectIdentifier());
        var inner = new AsnReader(reader.ReadOctetString(), AsnEncodingRules.DER);
        Assert.Equal(key.ExportPrivateSeed(), inner.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 0)));
        Assert.Equal(key.ExportEncapsulationKey().Length + 22, key.ExportSubjectPublicKeyInfo().Length);
    }

    [Fact]
    public void FactoryFallsBackToManagedWhenPlatformUnsupported()
    {
        using PlatformMLKem key = MLKemFactory.GenerateKey(MLKemAlgorithm.MLKem768);
        Assert.Equal(PlatformMLKem.IsSupported, MLKemFactory.UsesPlatform);
        if (!PlatformMLKem.IsSupported) Assert.IsType<ManagedMLKem>(key);
        using PlatformMLKem other = MLKemFactory.ImportEncapsulationKey(MLKemAlgorithm.MLKem768, key.ExportEncapsulationKey());
        other.Encapsulate(out byte[] c, out byte[] ss);
        Assert.Equal(ss, key.Decapsulate(c));
    }

    [Fact]
    public void CompressionMatchesExactRounding()
    {
        foreach (int d in new[] { 1, 4, 5, 10, 11 })
        {
            for (int x = 0; x < Fq.Q; x++)
            {
                // round(2^d * x / q) with exact rational arithmetic, then mod 2^d.
                long expected = ((2L * x << d) + Fq.Q) / (2L * Fq.Q) % (1L << d);
                Assert.Equal((uint)expected, Compression.Compress((short)x, d));
            }
            for (uint y = 0; y < 1u << d; y++)
            {
                long expected = (2L * Fq.Q * y + (1L << d)) / (2L << d);
                Assert.Equal((short)expected, Compression.Decompress(y, d));
            }
        }
    }
}
