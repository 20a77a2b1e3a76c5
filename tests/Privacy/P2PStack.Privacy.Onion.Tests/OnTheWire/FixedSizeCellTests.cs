using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.OnTheWire;

/// <summary>
/// On real sockets: every circuit link (client to first relay, relay to relay) carries only whole cells of the fixed
/// size. A pass-through filter under the muxer records what Noise encrypts onto each TCP connection; the yamux frames
/// of the onion streams are parsed from it.
/// </summary>
public class FixedSizeCellTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Theory]
    [InlineData(514)]
    [InlineData(1024)]
    public async Task Every_circuit_link_carries_only_whole_cells_of_the_fixed_size(int cellSize)
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, listen: "/ip4/127.0.0.1/tcp/0",
            relayOptions: o => o.CellSize = cellSize, clientOptions: o => o.CellSize = cellSize,
            destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol),
            configureAll: p2p => p2p.AddSecuredConnectionFilter<CaptureFilter>());
        var client = network.Client;
        var path = network.Relays.Select(r => r.PeerId).ToList();
        // The circuit links run over connections dialed with the capture filter; the circuit reuses them.
        var hops = new[] { client }.Concat(network.Relays).ToList();
        for (int i = 0; i + 1 < hops.Count; i++)
            await hops[i].Host.DialAsync(hops[i + 1].Address, new DialOptions { Filters = [CaptureFilter.Id] }, CancellationToken.None)
                .AsTask().WaitAsync(Patience);

        var onion = await client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(Patience);
        var payload = new byte[200_000];
        new Random(1).NextBytes(payload);
        await using (var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience))
        {
            var reading = ReadAllAsync(echo.Input);
            for (int i = 0; i < payload.Length; i += 7_000)
                await echo.Output.WriteAsync(payload.AsMemory(i, Math.Min(7_000, payload.Length - i)));
            await echo.Output.CompleteAsync();
            Assert.Equal(payload, await reading.WaitAsync(Patience));
        }
        await client.Client.CloseCircuitAsync(onion.Circuit.Id);

        int links = 0;
        long cells = 0;
        for (int i = 0; i + 1 < hops.Count; i++)
        {
            var capture = hops[i].Get<CaptureFilter>().Captures.Single(c => c.Direction == Direction.Outbound);
            foreach (var direction in new[] { capture.Sent, capture.Received })
            {
                var frames = YamuxFrames.Parse(direction);
                var byStream = frames.Where(f => f.Type == 0 && f.Payload.Length > 0).GroupBy(f => f.StreamId);
                foreach (var stream in byStream)
                {
                    var all = stream.SelectMany(f => f.Payload).ToArray();
                    int negotiation = YamuxFrames.NegotiationLength(all, OnionOptionsDefaults.ProtocolId);
                    if (negotiation == 0 || !System.Text.Encoding.ASCII.GetString(all, 0, negotiation).Contains(OnionOptionsDefaults.ProtocolId))
                        continue; // not an onion link (identify, ping)
                    links++;
                    // The stream after the negotiation is whole cells with valid commands...
                    Assert.Equal(0, (all.Length - negotiation) % cellSize);
                    for (int offset = negotiation; offset < all.Length; offset += cellSize)
                    {
                        Assert.InRange(all[offset], (byte)CellCommand.Padding, (byte)CellCommand.Destroy);
                        cells++;
                    }
                    // ...and every frame carries whole cells (the first one after the negotiation bytes).
                    int skip = negotiation;
                    foreach (var frame in stream)
                    {
                        int inNegotiation = Math.Min(skip, frame.Payload.Length);
                        skip -= inNegotiation;
                        Assert.Equal(0, (frame.Payload.Length - inNegotiation) % cellSize);
                    }
                }
            }
        }
        Assert.Equal(6, links); // three links, both directions
        Assert.True(cells > 2 * payload.Length / cellSize, $"{cells} cells");
    }

    internal static async Task<byte[]> ReadAllAsync(System.IO.Pipelines.PipeReader reader)
    {
        using var bytes = new MemoryStream();
        while (true)
        {
            var result = await reader.ReadAsync();
            foreach (var segment in result.Buffer) bytes.Write(segment.Span);
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return bytes.ToArray();
        }
    }
}

internal static class OnionOptionsDefaults
{
    public static readonly string ProtocolId = new OnionOptions().ProtocolId;
}
