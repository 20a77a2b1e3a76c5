using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>
/// A stream being opened on a connection that the remote closes meanwhile (a server refusing the connection right after
/// its handshake, CI: HostilePeerTests' per-IP limit test got an OperationCanceledException from a ping called with
/// CancellationToken.None). The opening is held deterministically in its SYN's flush: a connection whose writes do not
/// drain (a remote not reading, a full socket buffer). The caller must get a typed error that says the connection
/// closed; only the caller's own token makes it a cancellation.
/// </summary>
public sealed class ClosingConnectionStreamTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_ping_whose_stream_opening_the_remote_cuts_by_closing_the_connection_fails_with_the_muxer_closed_error()
    {
        var (server, client, stall) = await ConnectAsync();
        await using (server)
        await using (client)
        await using (stall)
        {
            stall.Arm();
            var ping = client.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None);
            await stall.FlushPending.WaitAsync(Patience);

            await server.Host.DisconnectAsync(client.Host.PeerId, CancellationToken.None);

            var error = await Record.ExceptionAsync(() => ping.WaitAsync(Patience));
            Assert.IsType<MuxerClosedException>(error);
            Assert.Contains("closed", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_stream_opening_cut_by_the_connection_closing_fails_with_the_muxer_closed_error()
    {
        var (server, client, stall) = await ConnectAsync();
        await using (server)
        await using (client)
        await using (stall)
        {
            var connection = Assert.Single(client.Host.GetConnections());
            stall.Arm();
            var open = connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask();
            await stall.FlushPending.WaitAsync(Patience);

            await server.Host.DisconnectAsync(client.Host.PeerId, CancellationToken.None);

            Assert.IsType<MuxerClosedException>(await Record.ExceptionAsync(() => open.WaitAsync(Patience)));
        }
    }

    [Fact]
    public async Task A_stream_opening_that_outlasts_the_negotiation_timeout_fails_with_a_timeout_naming_the_option()
    {
        var (server, client, stall) = await ConnectAsync(clientOptions: o => o.StreamNegotiationTimeout = TimeSpan.FromMilliseconds(200));
        await using (server)
        await using (client)
        await using (stall)
        {
            var connection = Assert.Single(client.Host.GetConnections());
            stall.Arm();
            var open = connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask();

            var error = Assert.IsType<TimeoutException>(await Record.ExceptionAsync(() => open.WaitAsync(Patience)));
            Assert.Contains(nameof(HostOptions.StreamNegotiationTimeout), error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_stream_opening_the_caller_cancels_is_still_a_cancellation()
    {
        var (server, client, stall) = await ConnectAsync();
        await using (server)
        await using (client)
        await using (stall)
        {
            var connection = Assert.Single(client.Host.GetConnections());
            stall.Arm();
            using var cancel = new CancellationTokenSource();
            var open = connection.OpenStreamAsync([PingProtocol.Id], cancel.Token).AsTask();
            await stall.FlushPending.WaitAsync(Patience);

            await cancel.CancelAsync();

            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => open.WaitAsync(Patience));
        }
    }

    [Fact]
    public async Task Identify_on_a_connection_the_remote_closes_meanwhile_fails_with_the_muxer_closed_error()
    {
        var (server, client, stall) = await ConnectAsync();
        await using (server)
        await using (client)
        await using (stall)
        {
            var connection = Assert.Single(client.Host.GetConnections());
            stall.Arm();
            var identify = client.Get<IdentifyService>().IdentifyAsync(connection, CancellationToken.None);
            await stall.FlushPending.WaitAsync(Patience);

            await server.Host.DisconnectAsync(client.Host.PeerId, CancellationToken.None);

            Assert.IsType<MuxerClosedException>(await Record.ExceptionAsync(() => identify.WaitAsync(Patience)));
        }
    }

    [Fact]
    public async Task Identify_that_outlasts_its_timeout_fails_with_a_timeout_naming_the_option()
    {
        var (server, client, stall) = await ConnectAsync(
            configure: p2p => p2p.Services.Configure<IdentifyOptions>(o => o.Timeout = TimeSpan.FromMilliseconds(200)));
        await using (server)
        await using (client)
        await using (stall)
        {
            var connection = Assert.Single(client.Host.GetConnections());
            stall.Arm();
            var identify = client.Get<IdentifyService>().IdentifyAsync(connection, CancellationToken.None);

            var error = Assert.IsType<TimeoutException>(await Record.ExceptionAsync(() => identify.WaitAsync(Patience)));
            Assert.Contains(nameof(IdentifyOptions) + "." + nameof(IdentifyOptions.Timeout), error.Message, StringComparison.Ordinal);
        }
    }

    // A client whose connection writes can be stalled, connected to a server, with identify's streams done.
    private static async Task<(TestPeer Server, TestPeer Client, StallingProtector Stall)> ConnectAsync(
        Action<HostOptions>? clientOptions = null, Action<IP2PBuilder>? configure = null)
    {
        var network = new MemoryNetwork();
        var stall = new StallingProtector();
        var server = await TestPeer.StartAsync("/memory/0", network);
        var client = await TestPeer.StartAsync("/memory/0", network,
            configure: p2p =>
            {
                p2p.Services.AddSingleton<IConnectionProtector>(stall);
                configure?.Invoke(p2p);
            }, options: clientOptions);
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var deadline = DateTime.UtcNow + Patience;
        while (connection.StreamCount != 0 || server.Host.GetConnections() is not [{ StreamCount: 0 }])
        {
            Assert.True(DateTime.UtcNow < deadline, "identify's streams never ended");
            await Task.Delay(20);
        }
        return (server, client, stall);
    }
}
