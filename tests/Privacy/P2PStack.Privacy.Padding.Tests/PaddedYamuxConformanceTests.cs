using System.IO.Pipelines;
using P2PStack.Conformance.Muxer;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>The muxer conformance suite with the padding filter (smallest cells, jitter and cover on) under yamux:
/// the filter must be invisible to the muxer above it.</summary>
public sealed class PaddedYamuxConformanceTests : MuxerConformanceTests
{
    private static readonly PaddingFilter Filter = PaddedPipeTests.Filter(o =>
    {
        o.CellSizes.Clear();
        o.CellSizes.AddRange([64, 4096]);
        o.Cover = CoverTraffic.Poisson;
        o.CoverRate = 50;
        o.MaxJitter = TimeSpan.FromMilliseconds(1);
    });

    protected override IMuxerSession CreateSession(IDuplexPipe connection, Direction direction, MuxerTestLimits limits) =>
        new YamuxSession(Filter.Apply(connection, direction), direction, new YamuxOptions
        {
            MaxInboundStreams = limits.MaxInboundStreams,
            MaxOutboundStreams = limits.MaxOutboundStreams,
        });
}
