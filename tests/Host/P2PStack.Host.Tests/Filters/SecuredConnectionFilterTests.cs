using System.Security.Cryptography;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests.Filters;

/// <summary>A filter asked for by the dialer is negotiated after the security handshake and runs under the muxer on
/// both ends; dials that do not ask keep the early muxer negotiation.</summary>
public class SecuredConnectionFilterTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly DialOptions WithCells = new() { Filters = [CellFilter.Id] };

    private static Task<TestPeer> StartAsync(MemoryNetwork network, bool withFilter = true) =>
        TestPeer.StartAsync("/memory/0", network, p2p =>
        {
            if (withFilter) p2p.AddSecuredConnectionFilter<CellFilter>();
        });

    [Fact]
    public async Task A_negotiated_filter_carries_the_connection_on_both_ends()
    {
        var network = new MemoryNetwork();
        await using var server = await StartAsync(network);
        await using var client = await StartAsync(network);
        using var echo = server.Host.AddHandler(new EchoHandler());

        var connection = await client.Host.DialAsync(server.Address, WithCells, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal([CellFilter.Id], connection.Filters);
        Assert.StartsWith("/noise", connection.SecurityProtocol);
        var atServer = await WaitForAsync(() => server.Host.GetConnections(client.Host.PeerId).SingleOrDefault());
        Assert.Equal([CellFilter.Id], atServer.Filters);

        byte[] payload = RandomNumberGenerator.GetBytes(300_000);
        await using var stream = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);
        var send = Task.Run(async () =>
        {
            await stream.Output.WriteAsync(payload);
            await stream.Output.CompleteAsync();
        });
        var received = new MemoryStream();
        await stream.Input.CopyToAsync(received).WaitAsync(Patience);
        await send.WaitAsync(Patience);
        Assert.Equal(payload, received.ToArray());

        // A dial that asks for no filter does not reuse the filtered connection, and gets none.
        var plain = await client.Host.DialAsync(server.Address, new DialOptions { ForceNewConnection = true }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Empty(plain.Filters);
        Assert.Same(connection, await client.Host.DialAsync(server.Address, WithCells, CancellationToken.None));
    }

    [Fact]
    public async Task A_listener_without_the_filter_refuses_the_connection()
    {
        var network = new MemoryNetwork();
        await using var server = await StartAsync(network, withFilter: false);
        await using var client = await StartAsync(network);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() =>
            client.Host.DialAsync(server.Address, WithCells, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Empty(client.Host.GetConnections());
    }

    private static async Task<T> WaitForAsync<T>(Func<T?> probe) where T : class
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if (probe() is { } value) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(20);
        }
    }
}
