using System.IO.Pipelines;
using P2PStack.Conformance.Muxer;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;

namespace P2PStack.Host.Tests.Filters;

/// <summary>The muxer conformance suite with a secured-connection filter (fixed-size cells) between the connection
/// and yamux: a filter stage must be invisible to the muxer above it.</summary>
public sealed class FilteredYamuxConformanceTests : MuxerConformanceTests
{
    protected override IMuxerSession CreateSession(IDuplexPipe connection, Direction direction, MuxerTestLimits limits) =>
        new YamuxSession(new CellFilter().Apply(connection, direction), direction, new YamuxOptions
        {
            MaxInboundStreams = limits.MaxInboundStreams,
            MaxOutboundStreams = limits.MaxOutboundStreams,
        });
}
