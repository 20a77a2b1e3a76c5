using System.Buffers;
using FsCheck;
using FsCheck.Fluent;

namespace P2PStack.Muxers.Yamux.Tests;

public sealed class YamuxFrameCodecTests
{
    [Fact]
    public void Encodes_the_spec_layout_big_endian()
    {
        var bytes = new byte[12];
        YamuxFrameCodec.Write(bytes, new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn | YamuxFlags.Ack, 0x01020304, 0x00040000));
        Assert.Equal(Convert.FromHexString("000100030102030400040000"), bytes);
    }

    [Fact]
    public void Decodes_a_go_away_with_protocol_error()
    {
        var header = YamuxFrameCodec.Read(Convert.FromHexString("000300000000000000000001"));
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)GoAwayCode.ProtocolError), header);
    }

    [Fact]
    public void Round_trips_every_valid_header()
    {
        Prop.ForAll<uint, uint, uint>((typeAndFlags, id, length) =>
        {
            var type = (YamuxFrameType)(typeAndFlags % 4);
            ushort flags = (ushort)(typeAndFlags >> 16);
            uint streamId = type is YamuxFrameType.Ping or YamuxFrameType.GoAway ? 0 : Math.Max(id, 1);
            var header = new YamuxFrameHeader(type, (YamuxFlags)flags, streamId, length);
            var bytes = new byte[12];
            YamuxFrameCodec.Write(bytes, header);
            return YamuxFrameCodec.Read(bytes) == header;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Decodes_headers_split_across_segments()
    {
        var bytes = new byte[12];
        var header = new YamuxFrameHeader(YamuxFrameType.Data, YamuxFlags.Fin, 7, 99);
        YamuxFrameCodec.Write(bytes, header);
        for (int split = 0; split <= 12; split++)
        {
            var sequence = TwoSegments(bytes.AsMemory(0, split), bytes.AsMemory(split));
            Assert.True(YamuxFrameCodec.TryRead(sequence, out var decoded));
            Assert.Equal(header, decoded);
            Assert.False(YamuxFrameCodec.TryRead(sequence.Slice(0, 11), out _));
        }
    }

    [Theory]
    [InlineData("010000000000000100000000", "version")]
    [InlineData("000400000000000100000000", "type")]
    [InlineData("00ff00000000000100000000", "type")]
    [InlineData("000200010000000100000000", "stream 1")]
    [InlineData("000300000000000200000000", "stream 2")]
    [InlineData("000000010000000000000000", "stream 0")]
    [InlineData("000100010000000000000000", "stream 0")]
    [InlineData("0000000000000001000000", "truncated")]
    public void Rejects_malformed_headers_with_a_typed_error(string hex, string mentioned)
    {
        var error = Assert.Throws<YamuxProtocolException>(() => YamuxFrameCodec.Read(Convert.FromHexString(hex)));
        Assert.Contains(mentioned, error.Message);
        Assert.IsAssignableFrom<P2PFormatException>(error);
    }

    [Fact]
    public void Random_bytes_decode_or_throw_only_protocol_errors()
    {
        var random = new Random(1234);
        var bytes = new byte[12];
        for (int i = 0; i < 20_000; i++)
        {
            random.NextBytes(bytes);
            bytes[0] = (byte)(random.Next(4) == 0 ? bytes[0] : 0); // mostly valid versions, to reach deeper checks
            try
            {
                var header = YamuxFrameCodec.Read(bytes);
                Assert.True(header.Type <= YamuxFrameType.GoAway);
            }
            catch (YamuxProtocolException)
            {
            }
        }
    }

    private static ReadOnlySequence<byte> TwoSegments(ReadOnlyMemory<byte> first, ReadOnlyMemory<byte> second)
    {
        var start = new Segment(first);
        var end = start.Append(second);
        return new ReadOnlySequence<byte>(start, 0, end, second.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
