using System.IO.Pipelines;
using P2PStack.Conformance.Muxer;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

public sealed class YamuxConformanceTests : MuxerConformanceTests
{
    protected override IMuxerSession CreateSession(IDuplexPipe connection, Direction direction, MuxerTestLimits limits) =>
        new YamuxSession(connection, direction, new YamuxOptions
        {
            MaxInboundStreams = limits.MaxInboundStreams,
            MaxOutboundStreams = limits.MaxOutboundStreams,
        });
}
