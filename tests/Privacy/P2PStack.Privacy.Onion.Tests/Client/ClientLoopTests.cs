namespace P2PStack.Privacy.Onion.Tests.Client;

/// <summary>Where the client's circuit reader runs: on the muxer's read loop of its link to the guard
/// (<see cref="OnionClientOptions.ReadLinkOnMuxerLoop"/>), as a relay's loops do.</summary>
public class ClientLoopTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_client_asks_for_its_link_to_be_read_on_the_muxer_loop_when_told_to(bool enabled)
    {
        await using var network = await EchoCircuit.StartAsync(clientOptions: o => o.Client.ReadLinkOnMuxerLoop = enabled);
        var links = new List<InlineRecordingStream>();
        network.Client.Client.LinkInterceptor = InlineRecordingStream.Into(links);
        // More than a stream window each way, so that the SENDMEs the reader handles resume the pump's waits; the data
        // crosses the reader intact.
        await EchoCircuit.EchoAsync(network, 400_000, seed: 9);

        InlineRecordingStream[] seen;
        lock (links) seen = [.. links];
        var link = Assert.Single(seen); // the client's link to the guard
        Assert.Equal(enabled ? 1 : 0, link.InlineRequests);
        Assert.Equal(enabled, link.ReadsInline); // yamux under the link: it does so
    }
}
