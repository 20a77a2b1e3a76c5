using System.Buffers;
using System.Buffers.Binary;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Client;

/// <summary>How a client's stream cuts what the application writes into writes to the link (one write = one flush).</summary>
public class ClientStreamWriteTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task Data_written_ahead_goes_to_the_link_in_whole_writes_with_the_tails_carried_into_the_next()
    {
        await using var network = await StartAsync();
        HeldFlushStream? link = null;
        var layout = new CellLayout(new OnionOptions().CellSize);
        network.Client.Client.LinkInterceptor = stream => link = new HeldFlushStream(stream, layout.CellSize);
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(Patience);
        await using var sink = await onion.Connection.OpenStreamAsync([SinkHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience);

        // The application writes one end-to-end Noise message (65,000 bytes: 132.2 cells); the link's first whole write of
        // it is held, and meanwhile the application writes the rest, ahead of the busy link.
        int whole = new CellLink(link!, layout).CellsPerFlush; // what the client's link writes at most per flush
        link!.HoldFirstFlushOf(whole / 2);
        var payload = new byte[180_000];
        new Random(3).NextBytes(payload);
        await sink.Output.WriteAsync(payload.AsMemory(0, 65_000)).AsTask().WaitAsync(Patience);
        await link.Holding.WaitAsync(Patience);
        var ahead = await Record.ExceptionAsync(() => sink.Output.WriteAsync(payload.AsMemory(65_000)).AsTask().WaitAsync(Patience));
        link.Release();
        Assert.Null(ahead);
        await sink.Output.CompleteAsync();
        Assert.Equal(payload.Length, await ReadCountAsync(sink).WaitAsync(Patience));

        // The payload went out in whole writes (one muxer frame of cells each) and one tail: the first write shorter
        // than a whole one comes only once the payload's cells are out (what follows it is the end-to-end muxer's own
        // small frames: the stream's FIN, window updates). Cut read by read, the first message's tail went alone, a short
        // write after about 133 cells.
        var flushes = link.FlushesFromHeld;
        string seen = $"cells per write from the held one: {string.Join(", ", flushes)}";
        int firstShort = flushes.ToList().FindIndex(cells => cells < whole);
        Assert.True(firstShort >= 0, seen);
        int payloadCells = (payload.Length + layout.RelayDataCapacity - 1) / layout.RelayDataCapacity;
        Assert.True(flushes.Take(firstShort + 1).Sum() >= payloadCells, seen);
    }

    [Fact]
    public async Task Writes_ahead_of_a_stalled_link_stop_at_the_configured_bound()
    {
        const int bound = 32 * 1024;
        await using var network = await StartAsync(o => o.Client.StreamWriteAheadBytes = bound);
        HeldFlushStream? link = null;
        var layout = new CellLayout(new OnionOptions().CellSize);
        network.Client.Client.LinkInterceptor = stream => link = new HeldFlushStream(stream, layout.CellSize);
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(Patience);
        await using var sink = await onion.Connection.OpenStreamAsync([SinkHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience);

        // The link holds its first large write, so the stream's pump stalls with one whole write's cells (about 61 KiB)
        // taken; the rest of the application's write has to wait at the bound (32 KiB) instead of going into the stream's
        // pipe (by default up to 256 KiB, more than this write).
        int whole = new CellLink(link!, layout).CellsPerFlush;
        link!.HoldFirstFlushOf(whole / 2);
        var payload = new byte[180_000];
        new Random(5).NextBytes(payload);
        var ahead = sink.Output.WriteAsync(payload).AsTask();
        await link.Holding.WaitAsync(Patience);
        // Nothing drains while the link is held: a write that ignores the bound completes in this time.
        var first = await Task.WhenAny(ahead, Task.Delay(TimeSpan.FromSeconds(1)));
        Assert.NotSame(ahead, first);
        link.Release();
        await ahead.WaitAsync(Patience);
        await sink.Output.CompleteAsync();
        Assert.Equal(payload.Length, await ReadCountAsync(sink).WaitAsync(Patience));
    }

    [Fact]
    public async Task A_tail_with_nothing_written_after_it_leaves_at_once()
    {
        await using var network = await StartAsync();
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(Patience);
        await using var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience);
        // More than one whole write, then nothing: the tail must not wait for data that does not come.
        var payload = new byte[70_000];
        new Random(4).NextBytes(payload);
        await echo.Output.WriteAsync(payload);
        var received = new List<byte>();
        while (received.Count < payload.Length)
        {
            var result = await echo.Input.ReadAsync().AsTask().WaitAsync(Patience);
            foreach (var segment in result.Buffer) received.AddRange(segment.ToArray());
            echo.Input.AdvanceTo(result.Buffer.End);
            Assert.False(result.IsCompleted && received.Count < payload.Length, "the echo ended early");
        }
        Assert.Equal(payload, received);
    }

    private static Task<OnionTestNetwork> StartAsync(Action<OnionOptions>? client = null) => OnionTestNetwork.StartAsync(relays: 3,
        clientOptions: client,
        destination: p2p => p2p.AddProtocol<SinkHandler>().AddProtocol<Anonymity.EchoHandler>(),
        destinationHost: o =>
        {
            o.AnonymousConnectionProtocols.Add(SinkHandler.Protocol);
            o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol);
        });

    private static async Task<long> ReadCountAsync(IStream stream)
    {
        while (true)
        {
            var result = await stream.Input.ReadAsync();
            if (result.Buffer.Length >= 8)
            {
                var count = new byte[8];
                result.Buffer.Slice(0, 8).CopyTo(count);
                stream.Input.AdvanceTo(result.Buffer.End);
                return BinaryPrimitives.ReadInt64BigEndian(count);
            }
            if (result.IsCompleted) throw new EndOfStreamException("the sink ended without its count");
            stream.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Reads to the end, then answers with the count of bytes read (8 bytes, big-endian).</summary>
    public sealed class SinkHandler : IProtocolHandler
    {
        public const string Protocol = "/test/sink/1.0.0";

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                long total = 0;
                while (true)
                {
                    var result = await stream.Input.ReadAsync(cancellationToken);
                    total += result.Buffer.Length;
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
                var count = new byte[8];
                BinaryPrimitives.WriteInt64BigEndian(count, total);
                await stream.Output.WriteAsync(count, cancellationToken);
                await stream.Output.CompleteAsync();
            }
        }
    }
}
