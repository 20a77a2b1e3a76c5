using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Protocols.Ping;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>
/// Padded connections over real TCP sockets, seen by an on-path observer (<see cref="WireObserver"/>): after the
/// hello, every Noise message on the socket is one cell of a configured size; a 1-byte and a 10 KB message leave the
/// same pattern; an idle link carries cover cells at the configured rate.
/// </summary>
public class PaddingCaptureTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const int Tag = 16; // the Noise AEAD tag on each message
    private const int HelloMessage = PaddingWire.HelloSize + Tag;

    private sealed record Capture(PaddingPeer Server, PaddingPeer Client, WireObserver Observer, IConnection Connection) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await Server.DisposeAsync();
            await Observer.DisposeAsync();
        }

        /// <summary>Transport messages after the hello, each direction (Noise XX: the client sends handshake messages
        /// 1 and 3, the server message 2).</summary>
        public (List<int> FromClient, List<int> FromServer) CellMessages() =>
            (AfterHello(WireObserver.TransportMessages(Observer.FromClient, 2)),
             AfterHello(WireObserver.TransportMessages(Observer.FromServer, 1)));

        private static List<int> AfterHello(List<int> messages)
        {
            // The filter is selected with multistream inside Noise (one or two messages), then the hello comes.
            int hello = messages.IndexOf(HelloMessage);
            Assert.InRange(hello, 0, 2);
            return messages[(hello + 1)..];
        }
    }

    private static async Task<Capture> ConnectAsync(Action<PaddingOptions> padding)
    {
        var server = await PaddingPeer.StartAsync("/ip4/127.0.0.1/tcp/0", padding);
        var port = int.Parse(server.Host.ListenAddresses[0].ToString().Split('/')[4]);
        var observer = new WireObserver(new IPEndPoint(IPAddress.Loopback, port));
        var client = await PaddingPeer.StartAsync("/ip4/127.0.0.1/tcp/0", padding);
        var connection = await client.Host.DialAsync(Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{observer.Port}/p2p/{server.Host.PeerId}"),
            new DialOptions { Filters = [PaddingFilter.Id], SecurityProtocols = ["/noise"] }, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal([PaddingFilter.Id], connection.Filters);
        return new Capture(server, client, observer, connection);
    }

    [Fact]
    public async Task Every_message_on_the_socket_after_the_hello_is_one_cell_of_a_configured_size()
    {
        await using var capture = await ConnectAsync(_ => { });
        using var echo = capture.Server.Host.AddHandler(new EchoHandler());

        // Mixed traffic: pings (32 bytes each way), a 300 KB echo, a 1-byte echo.
        await using (var ping = await capture.Connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None))
            await capture.Client.Get<PingService>().PingAsync(ping, 5, CancellationToken.None).WaitAsync(Patience);
        foreach (int size in new[] { 300_000, 1 })
        {
            byte[] payload = RandomNumberGenerator.GetBytes(size);
            await using var stream = await capture.Connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);
            var send = Task.Run(async () =>
            {
                await stream.Output.WriteAsync(payload);
                await stream.Output.CompleteAsync();
            });
            Assert.Equal(payload, await PaddedPipeTests.ReadAllAsync(stream.Input).WaitAsync(Patience));
            await send.WaitAsync(Patience);
        }

        var (fromClient, fromServer) = capture.CellMessages();
        Assert.True(fromClient.Count > 300_000 / 16384, $"only {fromClient.Count} cells from the client");
        Assert.NotEmpty(fromServer);
        int[] allowed = [1024 + Tag, 16384 + Tag];
        Assert.All(fromClient, length => Assert.Contains(length, allowed));
        Assert.All(fromServer, length => Assert.Contains(length, allowed));
        // Both sizes were used: small bursts in small cells, the bulk in large ones.
        Assert.Equal(allowed, fromClient.Distinct().Order());
    }

    [Fact]
    public async Task A_one_byte_and_a_ten_kilobyte_message_leave_the_same_pattern()
    {
        await using var capture = await ConnectAsync(o =>
        {
            o.CellSizes.Clear();
            o.CellSizes.Add(16384);
        });
        var sink = new SinkHandler();
        using var registration = capture.Server.Host.AddHandler(sink);
        await using var stream = await capture.Connection.OpenStreamAsync([SinkHandler.Protocol], CancellationToken.None);
        // Stream set-up first (yamux SYN, multistream), so that only the message is measured.
        await SendAndWaitAsync(stream, sink, 1);

        async Task<List<int>> PatternOfAsync(int size)
        {
            int before = capture.CellMessages().FromClient.Count;
            await SendAndWaitAsync(stream, sink, size);
            return capture.CellMessages().FromClient[before..];
        }

        var small = await PatternOfAsync(1);
        var large = await PatternOfAsync(10_000);
        Assert.Equal([16384 + Tag], small);
        Assert.Equal(small, large);
    }

    [Theory]
    [InlineData(CoverTraffic.Constant)]
    [InlineData(CoverTraffic.Poisson)]
    public async Task An_idle_link_carries_cover_cells_at_the_configured_rate(CoverTraffic mode)
    {
        const double rate = 20;
        await using var capture = await ConnectAsync(o =>
        {
            o.Cover = mode;
            o.CoverRate = rate;
        });
        await Task.Delay(500); // past the upgrade's own cells
        var (clientBefore, serverBefore) = capture.CellMessages();
        var watch = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(3));
        var (clientAfter, serverAfter) = capture.CellMessages();
        double expected = rate * watch.Elapsed.TotalSeconds;

        foreach (var (before, after) in new[] { (clientBefore, clientAfter), (serverBefore, serverAfter) })
        {
            var cells = after[before.Count..];
            // Cover cells are cells of the smallest size, like any small message.
            Assert.All(cells, length => Assert.Equal(1024 + Tag, length));
            // A loaded machine lowers the rate (events overdue by more than CoverMaxLag are skipped), so the lower
            // bound is loose. It also adds cells at the window's start: events late by up to CoverMaxLag still fire,
            // up to MaxPending cells due before the window wait in the pump, and the observer may record cells sent
            // before its first snapshot after it. Those are a few cells whatever the window, while a wrong rate is a
            // factor: the constant process stays under 1.5 times its rate, a Poisson count of mean 60 under twice.
            double upper = mode == CoverTraffic.Constant ? expected * 1.5 : expected * 2;
            Assert.InRange(cells.Count, (int)(expected / 4), (int)upper);
        }
        Assert.True(capture.Client.Get<PaddingMetrics>().CoverCellsSent > 0);
    }

    private static async Task SendAndWaitAsync(IStream stream, SinkHandler sink, int size)
    {
        long target = sink.Received + size;
        await stream.Output.WriteAsync(RandomNumberGenerator.GetBytes(size));
        var deadline = DateTime.UtcNow + Patience;
        while (sink.Received < target)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the sink did not receive the message");
            await Task.Delay(10);
        }
    }

    /// <summary>Reads and counts everything.</summary>
    private sealed class SinkHandler : IProtocolHandler
    {
        public const string Protocol = "/test/sink/1.0.0";
        private long _received;

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public long Received => Interlocked.Read(ref _received);

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                while (true)
                {
                    var result = await stream.Input.ReadAsync(cancellationToken);
                    Interlocked.Add(ref _received, result.Buffer.Length);
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) return;
                }
            }
        }
    }
}

/// <summary>Echoes every byte back until the remote half-closes, then half-closes.</summary>
public sealed class EchoHandler : IProtocolHandler
{
    public const string Protocol = "/test/echo/1.0.0";

    public IReadOnlyList<string> Protocols { get; } = [Protocol];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            await stream.Input.CopyToAsync(stream.Output, cancellationToken);
            await stream.Output.CompleteAsync();
        }
    }
}
