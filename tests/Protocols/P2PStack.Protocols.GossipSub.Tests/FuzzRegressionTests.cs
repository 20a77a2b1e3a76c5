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
}
