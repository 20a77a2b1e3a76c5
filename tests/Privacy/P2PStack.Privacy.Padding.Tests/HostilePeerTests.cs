using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>A real peer that negotiates padding and then sends malformed cells, against a real host.</summary>
public class HostilePeerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Malformed_cells_from_a_peer_end_its_connection_are_counted_and_the_host_serves_others()
    {
        var network = new MemoryNetwork();
        await using var victim = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);
        // The attacker claims the padding protocol id with a filter of its own: a valid hello, then a cell whose
        // length exceeds the cell.
        await using var attacker = await PaddingPeer.StartAsync("/memory/0", null, network,
            p2p => p2p.Services.AddSingleton<ISecuredConnectionFilter>(new EvilFilter()));

        // The attacker's own side never completes the muxer negotiation, so its dial is ended once the victim has seen
        // the cell (not after a fixed time: on a loaded machine the handshake before the cell can take seconds).
        var metrics = victim.Get<PaddingMetrics>();
        using (var attempt = new CancellationTokenSource(Patience))
        {
            var dial = attacker.Host.DialAsync(victim.Address, new DialOptions { Filters = [PaddingFilter.Id] }, attempt.Token).AsTask();
            var deadline = DateTime.UtcNow + Patience;
            while (metrics.MalformedFrames == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
            await attempt.CancelAsync();
            try
            {
                await dial.WaitAsync(Patience);
            }
            catch (Exception)
            {
                // Only the victim matters.
            }
        }
        Assert.Equal(1, metrics.MalformedFrames);
        Assert.Empty(victim.Host.GetConnections(attacker.Host.PeerId));

        // The victim still serves an honest padded client.
        await using var honest = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);
        var connection = await honest.Host.DialAsync(victim.Address, new DialOptions { Filters = [PaddingFilter.Id] }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        await using var ping = await connection.OpenStreamAsync([P2PStack.Protocols.Ping.PingProtocol.Id], CancellationToken.None);
        Assert.Equal(2, (await honest.Get<P2PStack.Protocols.Ping.PingService>().PingAsync(ping, 2, CancellationToken.None).WaitAsync(Patience)).Count);
    }

    private sealed class EvilFilter : ISecuredConnectionFilter
    {
        public string ProtocolId => PaddingFilter.Id;

        public IFilteredPipe Apply(IDuplexPipe connection, Direction direction)
        {
            var hello = new byte[PaddingWire.HelloSize];
            PaddingWire.WriteHello(hello, [1024, 16384]);
            connection.Output.Write(hello.AsSpan());
            var cell = new byte[1024];
            cell[1] = 0xFF; // announces 65280 payload bytes in a 1024-byte cell
            cell[2] = 0x00;
            connection.Output.Write(cell.AsSpan());
            _ = connection.Output.FlushAsync().AsTask();
            return new Silent();
        }

        private sealed class Silent : IFilteredPipe
        {
            private readonly Pipe _pipe = new();

            public PipeReader Input => _pipe.Reader;

            public PipeWriter Output => _pipe.Writer;

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
