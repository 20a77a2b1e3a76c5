using P2PStack.Encoding;

namespace P2PStack.Core.Tests.Encoding;

public class VarintLimitTests
{
    [Fact]
    public void Nine_continuation_bytes_are_rejected_as_too_long_not_truncated()
    {
        byte[] nine = Convert.FromHexString("808080808080808080");
        var e = Assert.Throws<VarintException>(() => Varint.Read(nine, out _));
        Assert.Contains("longer than 9", e.Message);
        Assert.Throws<VarintException>(() => Varint.TryReadPrefix(nine, out _, out _));
        Assert.False(Varint.TryReadPrefix(nine[..8], out _, out int read));
        Assert.Equal(0, read);
    }

    [Fact]
    public void The_largest_value_uses_all_nine_bytes()
    {
        byte[] max = Varint.Encode(Varint.MaxValue);
        Assert.Equal("ffffffffffffffff7f", Convert.ToHexStringLower(max));
        Assert.Equal(Varint.MaxValue, Varint.Read(max, out int read));
        Assert.Equal(9, read);
    }
}
