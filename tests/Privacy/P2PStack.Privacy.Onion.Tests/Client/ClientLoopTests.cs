using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;

namespace P2PStack.Privacy.Onion.Tests.Client;

/// <summary>Where the client's circuit reader runs: on the muxer's read loop of its link to the guard
/// (<see cref="OnionClientOptions.ReadLinkOnMuxerLoop"/>), as a relay's loops do.</summary>
public class ClientLoopTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_client_asks_for_its_link_to_be_read_on_the_muxer_loop_when_told_to(bool enabled)
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3,
            clientOptions: o => o.Client.ReadLinkOnMuxerLoop = enabled,
            destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol));
        var links = new List<InlineRecordingStream>();
        network.Client.Client.LinkInterceptor = stream =>
        {
            var recording = new InlineRecordingStream(stream);
            lock (links) links.Add(recording);
            return recording;
        };
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(Patience);
        // More than a stream window each way, so that the SENDMEs the reader handles resume the pump's waits.
        var payload = new byte[400_000];
        new Random(9).NextBytes(payload);
        await using (var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience))
        {
            var reading = OnTheWire.FixedSizeCellTests.ReadAllAsync(echo.Input);
            await echo.Output.WriteAsync(payload);
            await echo.Output.CompleteAsync();
            Assert.Equal(payload, await reading.WaitAsync(Patience)); // and the data crossed the reader intact
        }

        InlineRecordingStream[] seen;
        lock (links) seen = [.. links];
        var link = Assert.Single(seen); // the client's link to the guard
        Assert.Equal(enabled ? 1 : 0, link.InlineRequests);
        Assert.Equal(enabled, link.ReadsInline); // yamux under the link: it does so
    }

    /// <summary>A pass-through link stream that records the requests to read it on the muxer's loop.</summary>
    private sealed class InlineRecordingStream(IStream inner) : IStream
    {
        private int _requests;

        public int InlineRequests => Volatile.Read(ref _requests);

        public bool ReadsInline { get; private set; }

        public PipeReader Input => inner.Input;

        public PipeWriter Output => inner.Output;

        public string Protocol => inner.Protocol;

        public IConnection Connection => inner.Connection;

        public Direction Direction => inner.Direction;

        public bool TryReadInline()
        {
            Interlocked.Increment(ref _requests);
            ReadsInline = inner.TryReadInline();
            return ReadsInline;
        }

        public void Reset() => inner.Reset();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
