using P2PStack.Encoding;

namespace P2PStack.Core.Tests.Encoding;

public class MultihashTests
{
    [Fact]
    public void Matches_the_spec_readme_examples()
    {
        byte[] input = System.Text.Encoding.ASCII.GetBytes("multihash");

        Multihash sha1 = Multihash.Compute(MultihashCode.Sha1, input);
        Assert.Equal("111488c2f11fb2ce392acb5b2986e640211c4690073e", Convert.ToHexStringLower(sha1.ToBytes()));
        Assert.Equal("CEKIRQXRD6ZM4OJKZNNSTBXGIAQRYRUQA47A====", Base32.EncodeUpper(sha1.ToBytes(), pad: true));
        Assert.Equal("5dsgvJGnvAfiR3K6HCBc4hcokSfmjj", sha1.ToString());
        Assert.Equal("ERSIwvEfss45KstbKYbmQCEcRpAHPg==", Base64.Encode(sha1.ToBytes(), pad: true));

        Multihash sha256 = Multihash.Sha2_256(input);
        Assert.Equal("12209cbc07c3f991725836a3aa2a581ca2029198aa420b9d99bc0e131d9f3e2cbe47", Convert.ToHexStringLower(sha256.ToBytes()));
        Assert.Equal("CIQJZPAHYP4ZC4SYG2R2UKSYDSRAFEMYVJBAXHMZXQHBGHM7HYWL4RY=", Base32.EncodeUpper(sha256.ToBytes(), pad: true));
        Assert.Equal("QmYtUc4iTCbbfVSDNKvtQqrfyezPPnFvE33wFmutw9PBBk", sha256.ToString());
        Assert.Equal("EiCcvAfD+ZFyWDajqipYHKICkZiqQgudmbwOEx2fPiy+Rw==", Base64.Encode(sha256.ToBytes(), pad: true));
        Assert.Equal(sha256, Multihash.Parse("QmYtUc4iTCbbfVSDNKvtQqrfyezPPnFvE33wFmutw9PBBk"));
    }

    [Fact]
    public void Matches_every_spec_test_case_including_truncated_digests()
    {
        int count = 0;
        foreach (string line in MultihashSpecVectors.TestCasesCsv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith("algorithm", StringComparison.Ordinal)) continue;
            string[] fields = line.Split(',');
            ulong code = fields[0] switch
            {
                "sha1" => MultihashCode.Sha1,
                "sha2-256" => MultihashCode.Sha2_256,
                "sha2-512" => MultihashCode.Sha2_512,
                "sha3" => MultihashCode.Sha3_512, // the old name of 0x14
                _ => throw new InvalidOperationException(fields[0]),
            };
            int bytes = int.Parse(fields[1]) / 8;
            byte[] input = System.Text.Encoding.ASCII.GetBytes(fields[2]);
            byte[] expected = Convert.FromHexString(fields[3]);

            Multihash computed = Multihash.Compute(code, input, bytes);
            Assert.Equal(expected, computed.ToBytes());
            Multihash decoded = Multihash.Decode(expected);
            Assert.Equal(computed, decoded);
            Assert.Equal(code, decoded.Code);
            Assert.Equal(bytes, decoded.Digest.Length);
            Assert.True(decoded.Matches(input));
            Assert.False(decoded.Matches(System.Text.Encoding.ASCII.GetBytes(fields[2] + "x")));
            count++;
        }
        Assert.Equal(260, count);
    }

    [Theory]
    // FIPS 180 / 202 and RFC 7693 "abc" vectors.
    [InlineData(MultihashCode.Sha2_256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData(MultihashCode.Sha2_512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")]
    [InlineData(MultihashCode.Sha2_384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")]
    [InlineData(MultihashCode.Sha3_224, "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf")]
    [InlineData(MultihashCode.Sha3_256, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")]
    [InlineData(MultihashCode.Sha3_384, "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25")]
    [InlineData(MultihashCode.Sha3_512, "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0")]
    [InlineData(MultihashCode.Blake2b512, "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")]
    [InlineData(MultihashCode.Blake2b256, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")]
    [InlineData(MultihashCode.Blake2s256, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")]
    [InlineData(MultihashCode.Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d")]
    public void Computes_standard_digests(ulong code, string digestHex)
    {
        Multihash hash = Multihash.Compute(code, "abc"u8);
        Assert.Equal(digestHex, Convert.ToHexStringLower(hash.Digest.Span));
        Assert.Equal(code, hash.Code);
        Assert.Equal(Varint.SizeOf(code) + Varint.SizeOf((ulong)hash.Digest.Length) + hash.Digest.Length, hash.EncodedLength);
        Assert.True(hash.Matches("abc"u8));
        Assert.False(hash.Matches("abd"u8));
    }

    [Fact]
    public void Blake2b256_uses_a_two_byte_code_varint()
    {
        Multihash hash = Multihash.Compute(MultihashCode.Blake2b256, ""u8);
        byte[] bytes = hash.ToBytes();
        Assert.Equal(new byte[] { 0xa0, 0xe4, 0x02, 0x20 }, bytes[..4]);
        // RFC 7693-family known value of BLAKE2b-256("").
        Assert.Equal("0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8", Convert.ToHexStringLower(hash.Digest.Span));
        Assert.Equal(hash, Multihash.Decode(bytes));
    }

    [Fact]
    public void Identity_wraps_the_data()
    {
        byte[] key = Convert.FromHexString("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
        Multihash hash = Multihash.Identity(key);
        Assert.Equal(MultihashCode.Identity, hash.Code);
        Assert.Equal(new byte[] { 0x00, 0x24 }, hash.ToBytes()[..2]);
        Assert.Equal(key, hash.Digest.ToArray());
        Assert.True(hash.Matches(key));
        Assert.False(hash.Matches(key.AsSpan(1)));
        Assert.Equal("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", hash.ToString());
    }

    [Fact]
    public void Equality_is_by_value()
    {
        Multihash a = Multihash.Sha2_256("x"u8);
        Multihash b = Multihash.Decode(a.ToBytes());
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, Multihash.Sha2_256("y"u8));
        Assert.NotEqual(a, Multihash.Compute(MultihashCode.Sha2_256, "x"u8, 31));
        Assert.False(a.Equals(null));
    }

    [Fact]
    public void Read_reports_the_length_of_a_prefix()
    {
        Multihash a = Multihash.Sha2_256("x"u8);
        byte[] buffer = [.. a.ToBytes(), 0xff, 0x01];
        Multihash read = Multihash.Read(buffer, out int bytesRead);
        Assert.Equal(a, read);
        Assert.Equal(34, bytesRead);
        Assert.Throws<MultihashException>(() => Multihash.Decode(buffer));
        Span<byte> dest = stackalloc byte[a.EncodedLength];
        a.WriteTo(dest);
        Assert.Equal(a.ToBytes(), dest.ToArray());
    }

    [Theory]
    [InlineData("")] // empty
    [InlineData("12")] // no length
    [InlineData("1220")] // no digest
    [InlineData("12200102")] // truncated digest
    [InlineData("1221" + "0000000000000000000000000000000000000000000000000000000000000000" + "00")] // sha2-256 longer than 32
    [InlineData("9200" )] // non-minimal varint code (0x12 as 0x92 0x00)
    [InlineData("128000")] // non-minimal varint length
    [InlineData("00ffffffffffffffffff01")] // varint too long
    [InlineData("00818001")] // identity length 16385 > limit
    [InlineData("0080")] // truncated length varint
    public void Decode_rejects_malformed_input(string hex)
    {
        Assert.Throws<MultihashException>(() => Multihash.Decode(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Create_checks_the_digest_length_of_known_functions()
    {
        Assert.Throws<ArgumentException>(() => Multihash.Create(MultihashCode.Sha2_256, new byte[33]));
        Assert.Throws<ArgumentException>(() => Multihash.Create(MultihashCode.Identity, new byte[Multihash.MaxDigestLength + 1]));
        Assert.Equal(20, Multihash.Create(MultihashCode.Sha2_256, new byte[20]).Digest.Length);
        Assert.Equal(100, Multihash.Create(0x300000, new byte[100]).Digest.Length); // unknown function: any length up to the cap
        Assert.Throws<NotSupportedException>(() => Multihash.Compute(0x300000, "x"u8));
        Assert.False(Multihash.Create(0x300000, new byte[4]).Matches("x"u8));
    }
}
