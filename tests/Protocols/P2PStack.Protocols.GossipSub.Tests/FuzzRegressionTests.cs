namespace P2PStack.Protocols.GossipSub.Tests;

/// <summary>Inputs from the fuzz targets (fuzz/README.md) that once escaped the decoders' typed errors.</summary>
public class FuzzRegressionTests
{
    // daemon (found), kad and gossipsub-rpc (the same cause): a nested message whose length is near int.MaxValue made
    // Google.Protobuf 3.25.1 overflow its limit arithmetic and throw IndexOutOfRangeException (or
    // ArgumentOutOfRangeException) instead of InvalidProtocolBufferException; fixed upstream, 3.36.2 is used now.
    [Theory]
    [InlineData("0affffffff0708")]       // RPC.subscriptions of 2^31-1 bytes, then a tag
    [InlineData("0afaffffff070a01")]     // 2^31-6 bytes
    [InlineData("1affffffff070a")]       // RPC.control
    public void Nested_lengths_near_int_max_are_a_format_error(string hex) =>
        Assert.Throws<PubSubFormatException>(() => RpcCodec.Decode(Convert.FromHexString(hex)));

    // A string field that is not UTF-8 (a topic id) is a format error, also when the bytes arrive in pieces and the
    // string straddles them (Google.Protobuf's slower path). Google.Protobuf 3.36 refuses it with
    // InvalidProtocolBufferException (a DecoderFallbackException inside); 3.25.1 decoded it leniently, as U+FFFD.
    // Audit of issue 18: every protobuf decoder of network input catches InvalidProtocolBufferException.
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(7)]
    public void A_topic_id_that_is_not_utf8_is_a_format_error(int split)
    {
        byte[] rpc = Convert.FromHexString("0a070801120361ff62"); // subscriptions { subscribe: true, topicid: 61 ff 62 }
        var first = new Segment(rpc.AsMemory(0, split));
        var last = first.Append(rpc.AsMemory(split));
        var bytes = new System.Buffers.ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        var e = Assert.Throws<PubSubFormatException>(() => RpcCodec.Decode(bytes));
        Assert.IsType<System.Text.DecoderFallbackException>(e.InnerException?.InnerException);
    }

    private sealed class Segment : System.Buffers.ReadOnlySequenceSegment<byte>
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
