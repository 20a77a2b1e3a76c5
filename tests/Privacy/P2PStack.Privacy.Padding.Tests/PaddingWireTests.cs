using System.Buffers;
using FsCheck;
using FsCheck.Fluent;

namespace P2PStack.Privacy.Padding.Tests;

public class PaddingWireTests
{
    private static readonly int[] Sizes = [256, 1024, 16384];

    [Fact]
    public void Hello_round_trips_and_is_always_32_bytes()
    {
        var hello = new byte[PaddingWire.HelloSize];
        PaddingWire.WriteHello(hello, Sizes);
        Assert.Equal(PaddingWire.Version, hello[0]);
        Assert.Equal(Sizes, PaddingWire.ReadHello(hello));
    }

    [Theory]
    [InlineData(new byte[] { 2, 1, 0x04, 0x00 }, "version")]
    [InlineData(new byte[] { 1, 0 }, "1 to 8")]
    [InlineData(new byte[] { 1, 9 }, "1 to 8")]
    [InlineData(new byte[] { 1, 1, 0x00, 0x10 }, "outside")]
    [InlineData(new byte[] { 1, 1, 0x40, 0x01 }, "outside")]
    [InlineData(new byte[] { 1, 2, 0x04, 0x00, 0x04, 0x00 }, "increasing")]
    public void Malformed_hellos_are_refused(byte[] prefix, string why)
    {
        var hello = new byte[PaddingWire.HelloSize];
        prefix.CopyTo(hello, 0);
        var error = Assert.Throws<PaddingFormatException>(() => PaddingWire.ReadHello(hello));
        Assert.Contains(why, error.Message);
        Assert.IsAssignableFrom<P2PFormatException>(error);
        Assert.Throws<PaddingFormatException>(() => PaddingWire.ReadHello(hello.AsSpan(0, 31)));
    }

    [Fact]
    public void Agreement_is_the_common_sizes_and_the_same_on_both_ends()
    {
        int[] a = [512, 1024, 4096];
        int[] b = [1024, 4096, 16384];
        Assert.Equal([1024, 4096], PaddingWire.Agree(a, b));
        Assert.Equal(PaddingWire.Agree(a, b), PaddingWire.Agree(b, a));
        Assert.Throws<PaddingNegotiationException>(() => PaddingWire.Agree([512], [1024]));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(253, 0)]
    [InlineData(254, 1)]
    [InlineData(1021, 1)]
    [InlineData(1022, 2)]
    [InlineData(10_000, 2)]
    [InlineData(1_000_000, 2)]
    public void A_burst_takes_the_smallest_cell_that_holds_it_else_the_largest(long length, int index) =>
        Assert.Equal(index, PaddingWire.ChooseSize(Sizes, length));

    [Fact]
    public void Cells_round_trip_and_padding_is_not_zeros()
    {
        var payload = new byte[] { 1, 2, 3, 4, 5 };
        var cell = new byte[1024];
        PaddingWire.WriteCell(cell, Sizes, 1, new ReadOnlySequence<byte>(payload));
        Assert.True(PaddingWire.TryReadHeader(new ReadOnlySequence<byte>(cell), Sizes, out int size, out int length));
        Assert.Equal(1024, size);
        Assert.Equal(5, length);
        Assert.Equal(payload, cell[3..8]);
        Assert.Contains(cell[8..], b => b != 0);
        // A second cell of the same payload has different padding: nothing constant to recognise.
        var again = new byte[1024];
        PaddingWire.WriteCell(again, Sizes, 1, new ReadOnlySequence<byte>(payload));
        Assert.NotEqual(cell[8..], again[8..]);
    }

    [Fact]
    public void Bad_cell_headers_are_refused()
    {
        Assert.Throws<PaddingFormatException>(() => PaddingWire.TryReadHeader(new ReadOnlySequence<byte>([3, 0, 0]), Sizes, out _, out _));
        Assert.Throws<PaddingFormatException>(() => PaddingWire.TryReadHeader(new ReadOnlySequence<byte>([0, 0x00, 0xFE]), Sizes, out _, out _));
        Assert.False(PaddingWire.TryReadHeader(new ReadOnlySequence<byte>([0, 0]), Sizes, out _, out _));
    }

    [Fact]
    public void Random_input_only_ever_raises_the_typed_exception()
    {
        Prop.ForAll<byte[]>(bytes =>
        {
            var hello = new byte[Math.Max(bytes.Length, PaddingWire.HelloSize)];
            bytes.CopyTo(hello, 0);
            try
            {
                var sizes = PaddingWire.ReadHello(hello);
                Assert.InRange(sizes.Length, 1, PaddingWire.MaxCellSizes);
            }
            catch (PaddingFormatException)
            {
            }
            try
            {
                if (bytes.Length > 0 && PaddingWire.TryReadHeader(new ReadOnlySequence<byte>(bytes), Sizes, out int size, out int length))
                    Assert.InRange(length, 0, size - PaddingWire.CellHeaderSize);
            }
            catch (PaddingFormatException)
            {
            }
        }).QuickCheckThrowOnFailure();
    }
}
