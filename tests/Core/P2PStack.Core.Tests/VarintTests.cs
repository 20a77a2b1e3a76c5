using P2PStack.Encoding;

namespace P2PStack.Core.Tests;

public class VarintTests
{
    // Cases from the multiformats unsigned-varint spec.
    [Theory]
    [InlineData(1UL, "01")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "8001")]
    [InlineData(255UL, "ff01")]
    [InlineData(300UL, "ac02")]
    [InlineData(16384UL, "808001")]
    [InlineData(0UL, "00")]
    [InlineData((1UL << 63) - 1, "ffffffffffffffff7f")]
    public void Encodes_spec_examples(ulong value, string hex)
    {
        Assert.Equal(hex, Convert.ToHexStringLower(Varint.Encode(value)));
        Assert.Equal(value, Varint.Read(Convert.FromHexString(hex), out int read));
        Assert.Equal(hex.Length / 2, read);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("80", "truncated")]
    [InlineData("ff", "truncated")]
    [InlineData("8000", "minimally")]
    [InlineData("ff00", "minimally")]
    [InlineData("ffffffffffffffffff01", "longer than 9")]
    [InlineData("80808080808080808001", "longer than 9")]
    public void Rejects_malformed(string hex, string reason)
    {
        var ex = Assert.Throws<VarintException>(() => Varint.Read(Convert.FromHexString(hex), out _));
        Assert.Contains(reason, ex.Message);
    }

    [Fact]
    public void Rejects_values_over_63_bits_on_encode()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Varint.Encode(1UL << 63));
    }

    [Fact]
    public void TryReadPrefix_waits_for_more_bytes_but_rejects_malformed()
    {
        Assert.False(Varint.TryReadPrefix(new byte[] { 0x80, 0x80 }, out _, out int read));
        Assert.Equal(0, read);
        Assert.Throws<VarintException>(() => Varint.TryReadPrefix(new byte[] { 0x80, 0x00 }, out _, out _));
        Assert.True(Varint.TryReadPrefix(new byte[] { 0xac, 0x02, 0x99 }, out ulong v, out read));
        Assert.Equal(300UL, v);
        Assert.Equal(2, read);
    }

    [Fact]
    public void Round_trips_random_values_and_never_throws_untyped_on_random_bytes()
    {
        var rng = new Random(1234);
        Span<byte> buf = stackalloc byte[Varint.MaxLength];
        for (int i = 0; i < 20_000; i++)
        {
            ulong v = (ulong)rng.NextInt64() >> rng.Next(0, 63);
            int n = Varint.Write(v, buf);
            Assert.Equal(Varint.SizeOf(v), n);
            Assert.Equal(v, Varint.Read(buf[..n], out int read));
            Assert.Equal(n, read);

            var junk = new byte[rng.Next(0, 12)];
            rng.NextBytes(junk);
            try { Varint.Read(junk, out _); } catch (VarintException) { }
        }
    }
}
