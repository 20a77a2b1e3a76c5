using P2PStack.Privacy.Onion.Client;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Tests.OnTheWire;

namespace P2PStack.Privacy.Onion.Tests.Circuits;

/// <summary>Where and when a relay's circuit loops run and flush: on the muxer's read loop of the link they read
/// (<see cref="OnionRelayOptions.ReadLinksOnMuxerLoop"/>), and with the cells readable at once joined in whole writes.</summary>
public class RelayLoopTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_relay_asks_for_its_previous_link_to_be_read_on_the_muxer_loop_once_the_hop_is_built(bool enabled)
    {
        await using var network = await EchoCircuit.StartAsync(relayOptions: o => o.Relay.ReadLinksOnMuxerLoop = enabled);
        var links = new List<InlineRecordingStream>();
        foreach (var relay in network.Relays) relay.Relay.LinkInterceptor = InlineRecordingStream.Into(links);
        await EchoCircuit.EchoAsync(network, 100_000, seed: 7); // and the data crosses the loops intact

        InlineRecordingStream[] seen;
        lock (links) seen = [.. links];
        Assert.Equal(3, seen.Length); // each relay's link from its previous hop
        Assert.All(seen, link => Assert.Equal(enabled ? 1 : 0, link.InlineRequests));
        Assert.All(seen, link => Assert.Equal(enabled, link.ReadsInline)); // yamux under every link: it does so
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_exit_run_as_an_event_loop_reads_its_destination_stream_on_the_muxer_loop_too(bool enabled)
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3,
            relayOptions: o => o.Relay.ReadLinksOnMuxerLoop = enabled,
            destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol));
        var destinations = new List<InlineRecordingStream>();
        foreach (var relay in network.Relays) relay.Relay.DestinationInterceptor = InlineRecordingStream.Into(destinations);
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(Patience);
        // Both ways through the exit's destination stream: the echo comes back through the pump that now runs on the
        // destination connection's read loop, with its window waits and the link's lock.
        var payload = new byte[400_000];
        new Random(9).NextBytes(payload);
        for (int round = 0; round < 2; round++)
        {
            await using var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None)
                .AsTask().WaitAsync(Patience);
            var reading = FixedSizeCellTests.ReadAllAsync(echo.Input);
            await echo.Output.WriteAsync(payload);
            await echo.Output.CompleteAsync();
            Assert.Equal(payload, await reading.WaitAsync(Patience));
        }

        InlineRecordingStream[] seen;
        lock (destinations) seen = [.. destinations];
        Assert.Single(seen); // the circuit's one stream to the destination (the end-to-end connection), at the exit
        Assert.Equal(enabled ? 1 : 0, seen[0].InlineRequests);
        Assert.Equal(enabled, seen[0].ReadsInline);
    }

    [Fact]
    public async Task Cells_readable_at_once_go_on_in_whole_muxer_frames_past_the_cells_per_read()
    {
        const int cellsPerRead = 8;
        await using var network = await EchoCircuit.StartAsync(relayOptions: o => o.Relay.CellsPerRead = cellsPerRead,
            listen: "/ip4/127.0.0.1/tcp/0", configureAll: p2p => p2p.AddSecuredConnectionFilter<CaptureFilter>());
        var hops = new[] { network.Client }.Concat(network.Relays).ToList();
        for (int i = 0; i + 1 < hops.Count; i++)
            await hops[i].Host.DialAsync(hops[i + 1].Address, new DialOptions { Filters = [CaptureFilter.Id] }, CancellationToken.None)
                .AsTask().WaitAsync(Patience);
        await EchoCircuit.EchoAsync(network, 300_000, seed: 8);

        // The client sends whole muxer frames of cells; the guard reads them eight cells at a time, and flushes only
        // when nothing more is readable (or a whole frame is pending): its frames to the middle hold more than eight.
        int cellSize = new OnionOptions().CellSize;
        var capture = network.Relays[0].Get<CaptureFilter>().Captures.Single(c => c.Direction == Direction.Outbound);
        var onionStream = YamuxFrames.Parse(capture.Sent).Where(f => f.Type == 0 && f.Payload.Length > 0).GroupBy(f => f.StreamId)
            .Single(s => System.Text.Encoding.ASCII.GetString(s.First().Payload).Contains(OnionOptionsDefaults.ProtocolId));
        int largest = onionStream.Skip(1).Max(f => f.Payload.Length / cellSize);
        Assert.True(largest > cellsPerRead, $"largest write from the guard to the middle: {largest} cells");
    }
}
