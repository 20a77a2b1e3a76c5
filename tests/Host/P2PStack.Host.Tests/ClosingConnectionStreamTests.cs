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
        var error = await HeldOperationErrorAsync(
            (client, connection) => client.Get<PingService>().PingAsync(connection.RemotePeer, 1, CancellationToken.None),
            cut: ServerClosesTheConnection);

        Assert.Contains("closed", Assert.IsType<MuxerClosedException>(error).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_opening_cut_by_the_connection_closing_fails_with_the_muxer_closed_error()
    {
        var error = await HeldOperationErrorAsync(
            (_, connection) => connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask(),
            cut: ServerClosesTheConnection);

        Assert.IsType<MuxerClosedException>(error);
    }

    [Fact]
    public async Task A_stream_opening_that_outlasts_the_negotiation_timeout_fails_with_a_timeout_naming_the_option()
    {
        var error = await HeldOperationErrorAsync(
            (_, connection) => connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask(),
            clientOptions: o => o.StreamNegotiationTimeout = TimeSpan.FromMilliseconds(200));

        Assert.Contains(nameof(HostOptions.StreamNegotiationTimeout), Assert.IsType<TimeoutException>(error).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_opening_the_caller_cancels_is_still_a_cancellation()
    {
        using var cancel = new CancellationTokenSource();
        var error = await HeldOperationErrorAsync(
            (_, connection) => connection.OpenStreamAsync([PingProtocol.Id], cancel.Token).AsTask(),
            cut: (_, _) => cancel.CancelAsync());

        Assert.IsAssignableFrom<OperationCanceledException>(error);
    }

    [Fact]
    public async Task Identify_on_a_connection_the_remote_closes_meanwhile_fails_with_the_muxer_closed_error()
    {
        var error = await HeldOperationErrorAsync(
            (client, connection) => client.Get<IdentifyService>().IdentifyAsync(connection, CancellationToken.None),
            cut: ServerClosesTheConnection);

        Assert.IsType<MuxerClosedException>(error);
    }

    [Fact]
    public async Task Identify_that_outlasts_its_timeout_fails_with_a_timeout_naming_the_option()
    {
        var error = await HeldOperationErrorAsync(
            (client, connection) => client.Get<IdentifyService>().IdentifyAsync(connection, CancellationToken.None),
            configure: p2p => p2p.Services.Configure<IdentifyOptions>(o => o.Timeout = TimeSpan.FromMilliseconds(200)));

        Assert.Contains(nameof(IdentifyOptions) + "." + nameof(IdentifyOptions.Timeout), Assert.IsType<TimeoutException>(error).Message,
            StringComparison.Ordinal);
    }

    private static Task ServerClosesTheConnection(TestPeer server, TestPeer client) =>
        server.Host.DisconnectAsync(client.Host.PeerId, CancellationToken.None).AsTask();

    // Starts `operation` on the client with its connection's next flush held; once that flush is pending, `cut` runs
    // (none: the operation's own timeout ends it). Returns what the operation threw (null if it did not).
    private static async Task<Exception?> HeldOperationErrorAsync(
        Func<TestPeer, IConnection, Task> operation, Func<TestPeer, TestPeer, Task>? cut = null,
        Action<HostOptions>? clientOptions = null, Action<IP2PBuilder>? configure = null)
    {
        var (server, client, stall) = await ConnectAsync(clientOptions, configure);
        await using (server)
        await using (client)
        await using (stall)
        {
            var connection = Assert.Single(client.Host.GetConnections());
            stall.Arm();
            var running = operation(client, connection);
            if (cut is not null)
            {
                await stall.FlushPending.WaitAsync(Patience);
                await cut(server, client);
            }
            return await Record.ExceptionAsync(() => running.WaitAsync(Patience));
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
