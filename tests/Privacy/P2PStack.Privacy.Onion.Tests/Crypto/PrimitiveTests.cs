using P2PStack.Privacy.Onion.Crypto;

namespace P2PStack.Privacy.Onion.Tests.Crypto;

/// <summary>AES-256 (AES-NI and the .NET ECB path), counter mode and POLYVAL against published vectors and each
/// other.</summary>
public class PrimitiveTests
{
    public static TheoryData<bool> Paths => new() { false, true };

    [Theory]
    [MemberData(nameof(Paths))]
    public void Aes256_matches_fips197(bool portable)
    {
        // FIPS 197, appendix C.3.
        var key = Convert.FromHexString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        var plain = Convert.FromHexString("00112233445566778899aabbccddeeff");
        using var aes = new Aes256(key, decryption: true, forcePortable: portable);
        var cipher = new byte[16];
        aes.EncryptBlock(plain, cipher);
        Assert.Equal("8ea2b7ca516745bfeafc49904b496089", Convert.ToHexStringLower(cipher));
        var back = new byte[16];
        aes.DecryptBlock(cipher, back);
        Assert.Equal(plain, back);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Counter_mode_matches_sp800_38a(bool portable)
    {
        // NIST SP 800-38A, F.5.5 CTR-AES256.Encrypt.
        var key = Convert.FromHexString("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        var iv = Convert.FromHexString("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        var data = Convert.FromHexString("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
            + "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
        using var aes = new Aes256(key, decryption: false, forcePortable: portable);
        aes.XorKeystream(iv, data);
        Assert.Equal("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
            + "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6", Convert.ToHexStringLower(data));
    }

    [Fact]
    public void Hardware_and_portable_aes_agree_on_random_keys_lengths_and_counter_wraps()
    {
        if (!Aes256.HardwareAccelerated) return; // nothing to compare against here
        var random = new Random(7);
        for (int round = 0; round < 200; round++)
        {
            var key = new byte[32];
            var iv = new byte[16];
            random.NextBytes(key);
            random.NextBytes(iv);
            if (round % 4 == 0) iv.AsSpan(12).Fill(0xFF); // the counter wraps inside the message
            var data = new byte[random.Next(0, 700)];
            random.NextBytes(data);
            var copy = (byte[])data.Clone();
            using var fast = new Aes256(key, decryption: true);
            using var slow = new Aes256(key, decryption: true, forcePortable: true);
            fast.XorKeystream(iv, data);
            slow.XorKeystream(iv, copy);
            Assert.Equal(copy, data);
            var block = iv;
            var a = new byte[16];
            var b = new byte[16];
            fast.EncryptBlock(block, a);
            slow.EncryptBlock(block, b);
            Assert.Equal(b, a);
            fast.DecryptBlock(block, a);
            slow.DecryptBlock(block, b);
            Assert.Equal(b, a);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Polyval_matches_rfc8452(bool portable)
    {
        // RFC 8452, appendix A.
        var h = Convert.FromHexString("25629347589242761d31f826ba4b757b");
        var blocks = Convert.FromHexString("4f4f95668c83dfb6401762bb2d01a262d1a24ddd2721d006bbe45f20d3c9f362");
        var result = new byte[16];
        new Polyval(h, portable).Compute(blocks, result);
        Assert.Equal("f7a3b47b846119fae5b7866cf5e5b77e", Convert.ToHexStringLower(result));
    }

    [Fact]
    public void Polyval_paths_agree_and_the_bit_serial_dot_is_the_field_product()
    {
        var random = new Random(11);
        for (int round = 0; round < 100; round++)
        {
            var key = new byte[16];
            random.NextBytes(key);
            // Up to 80 blocks: cell-sized messages take the one-pass path, longer ones the four-at-a-time path.
            var data = new byte[random.Next(0, 80) * 16];
            random.NextBytes(data);
            var fast = new byte[16];
            var slow = new byte[16];
            new Polyval(key).Compute(data, fast);
            new Polyval(key, forcePortable: true).Compute(data, slow);
            Assert.Equal(slow, fast);
            ulong tweak = (ulong)random.NextInt64();
            var odd = data.AsSpan(0, Math.Max(0, data.Length - random.Next(0, 16)));
            Assert.Equal(new Polyval(key, forcePortable: true).Hash(odd, tweak), new Polyval(key).Hash(odd, tweak));
        }
        // dot(a, b) * x^128 == a * b: with b = x^128 (the element whose dot with anything is that thing), dot(a, b) = a.
        var a = (UInt128)random.NextInt64() << 64 | (UInt128)(ulong)random.NextInt64();
        UInt128 xTo128 = ReferenceXTo128();
        Assert.Equal(a, Polyval.SoftDot(a, xTo128));
        Assert.Equal(a, Polyval.SoftDot(xTo128, a));
    }

    // x^128 mod p(x) = x^127 + x^126 + x^121 + 1.
    private static UInt128 ReferenceXTo128() => (UInt128.One << 127) | (UInt128.One << 126) | (UInt128.One << 121) | UInt128.One;
}
