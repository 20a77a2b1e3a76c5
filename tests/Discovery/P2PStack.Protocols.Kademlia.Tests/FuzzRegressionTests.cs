using System.Buffers;
using System.IO.Pipelines;

namespace P2PStack.Protocols.Kademlia.Tests;

/// <summary>Inputs from the fuzz targets (fuzz/README.md) that once escaped the decoders' typed errors.</summary>
public class FuzzRegressionTests
{
    // daemon (found), kad and gossipsub-rpc (the same cause): a nested message whose length is near int.MaxValue made
    // Google.Protobuf 3.25.1 overflow its limit arithmetic and throw IndexOutOfRangeException instead of
    // InvalidProtocolBufferException; fixed upstream, 3.36.2 is used now.
    [Theory]
    [InlineData("0742ffffffff070a")] // a 7-byte message: closerPeers of 2^31-1 bytes, then a tag
    [InlineData("084afaffffff070a01")] // providerPeers of 2^31-6 bytes
    public async Task Nested_lengths_near_int_max_are_a_protocol_error(string hex)
    {
        var reader = PipeReader.Create(new ReadOnlySequence<byte>(Convert.FromHexString(hex)));
        await Assert.ThrowsAsync<KadProtocolException>(() => KadProtocol.ReadOrEndAsync(reader, 1024, default).AsTask());
    }
}
