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

        // The first data write to the link waits while the application writes about three end-to-end Noise messages.
        int whole = new CellLink(link!, layout).CellsPerFlush; // what the client's link writes at most per flush
        link!.HoldFirstFlushOf(whole / 2);
        var payload = new byte[180_000];
        new Random(3).NextBytes(payload);
        var writing = sink.Output.WriteAsync(payload).AsTask();
        await link.Holding.WaitAsync(Patience);
        // The application writes ahead of the busy link (up to a stream window), not just one message.
        var ahead = await Record.ExceptionAsync(() => writing.WaitAsync(Patience));
        link.Release();
        Assert.Null(ahead);
        await sink.Output.CompleteAsync();
        Assert.Equal(payload.Length, await ReadCountAsync(sink).WaitAsync(Patience));

        // Whole writes (one muxer frame of cells each), then the tail, then END. Cut message by message, each 65,537-byte
        // Noise message was a whole write and a 7-cell one.
        var flushes = link.FlushesFromHeld;
        Assert.True(flushes.Count >= 4, string.Join(", ", flushes));
        Assert.All(flushes.SkipLast(2), cells => Assert.Equal(whole, cells));
        Assert.InRange(flushes[^2], 1, whole);
        Assert.Equal(1, flushes[^1]); // END
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

    private static Task<OnionTestNetwork> StartAsync() => OnionTestNetwork.StartAsync(relays: 3,
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
