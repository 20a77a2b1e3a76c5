using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;

namespace P2PStack.Security.Pnet.Tests;

public sealed class XSalsa20Tests
{
    /// <summary>Bernstein's "Cryptography in NaCl" example: the first 32 bytes of the XSalsa20 stream are the
    /// Poly1305 key; crypto_stream_xsalsa20 in NaCl's tests checks the SHA-256 of 4 MiB of that stream.</summary>
    [Fact]
    public void Nacl_stream_test_vector()
    {
        byte[] key = Convert.FromHexString("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389");
        byte[] nonce = Convert.FromHexString("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37");
        var output = new byte[4_194_304];
        new XSalsa20(key, nonce).Xor(output);
        Assert.Equal("662b9d0e3463029156069b12f918691a98f7dfb2ca0393c96bbfc6b1fbd630a2",
            Convert.ToHexStringLower(SHA256.HashData(output)));
    }

    [Fact]
    public void HSalsa20_matches_the_NaCl_example()
    {
        // crypto_core_hsalsa20 test "core3"/"core4" of NaCl: the shared secret of the box example to its first subkey.
        byte[] shared = Convert.FromHexString("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        var subkey = new byte[32];
        XSalsa20.HSalsa20(shared, new byte[16], subkey);
        Assert.Equal("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389", Convert.ToHexStringLower(subkey));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(1000)]
    public void Streams_like_BouncyCastle_in_any_chunking(int chunk)
    {
        var random = new Random(chunk);
        for (int round = 0; round < 20; round++)
        {
            byte[] key = RandomNumberGenerator.GetBytes(32);
            byte[] nonce = RandomNumberGenerator.GetBytes(24);
            byte[] plain = RandomNumberGenerator.GetBytes(random.Next(0, 5000));

            var engine = new XSalsa20Engine();
            engine.Init(true, new ParametersWithIV(new KeyParameter(key), nonce));
            var expected = new byte[plain.Length];
            engine.ProcessBytes(plain, 0, plain.Length, expected, 0);

            var ours = new XSalsa20(key, nonce);
            var actual = (byte[])plain.Clone();
            for (int offset = 0; offset < actual.Length; offset += chunk)
                ours.Xor(actual.AsSpan(offset, Math.Min(chunk, actual.Length - offset)));
            Assert.Equal(expected, actual);
        }
    }
}
