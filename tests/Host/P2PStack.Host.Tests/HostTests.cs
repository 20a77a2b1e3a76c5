using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Perf;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

public class HostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/0")]
    [InlineData("/memory/0")]
    public async Task Dial_then_ping_records_latency(string listen)
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync(listen, network);
        await using var client = await TestPeer.StartAsync(listen, network);

        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(server.Host.PeerId, connection.RemotePeer);
        Assert.Equal("/yamux/1.0.0", connection.Muxer);
        Assert.StartsWith("/noise", connection.SecurityProtocol);

        var rtts = await client.Get<PingService>().PingAsync(server.Host.PeerId, 3, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(3, rtts.Count);
        var latency = client.Host.PeerStore.GetLatency(server.Host.PeerId);
        Assert.NotNull(latency);
        Assert.Equal(3, latency.Samples);
        Assert.True(latency.Min <= latency.Average && latency.Average <= latency.Max);
    }

    [Fact]
    public async Task Two_of_our_peers_negotiate_the_hybrid_post_quantum_suite()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal("/noise-mlkem768-hfs/0.1.0", connection.SecurityProtocol);
    }

    [Fact]
    public async Task Perf_moves_the_requested_bytes_both_ways()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var result = await client.Get<PerfService>().RunAsync(server.Host.PeerId, 3_000_000, 5_000_000, CancellationToken.None)
            .WaitAsync(Patience);
        Assert.Equal(3_000_000UL, result.UploadBytes);
        Assert.Equal(5_000_000UL, result.DownloadBytes);
    }

    [Fact]
    public async Task Runtime_handler_echoes_and_stream_bytes_are_intact()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        using var registration = server.Host.AddHandler(new EchoHandler());
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);

        var payload = RandomNumberGenerator.GetBytes(1 << 20);
        await using var stream = await client.Host.OpenStreamAsync(server.Host.PeerId, [EchoHandler.Protocol], CancellationToken.None);
        var send = Task.Run(async () =>
        {
            await stream.Output.WriteAsync(payload);
            await stream.Output.CompleteAsync();
        });
        using var received = new MemoryStream();
        await stream.Input.CopyToAsync(received).WaitAsync(Patience);
        await send;
        Assert.Equal(payload, received.ToArray());
        Assert.Equal(EchoHandler.Protocol, stream.Protocol);
    }

    [Fact]
    public async Task Unsupported_protocol_is_refused_with_a_typed_error()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None);

        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() =>
            connection.OpenStreamAsync(["/nope/1", "/nope/2"], CancellationToken.None).AsTask().WaitAsync(Patience));

        // A single protocol is negotiated lazily: the refusal arrives with the first read.
        await using var lazy = await connection.OpenStreamAsync(["/nope/1"], CancellationToken.None);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => lazy.Input.ReadAsync().AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Dialing_the_wrong_peer_id_fails_with_a_mismatch()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        using var otherKey = PrivateKey.Generate();
        var wrong = server.Host.ListenAddresses[0].Encapsulate($"/p2p/{PeerId.FromPublicKey(otherKey.PublicKey)}");
        var error = await Assert.ThrowsAsync<PeerIdMismatchException>(() =>
            client.Host.DialAsync(wrong, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Equal(server.Host.PeerId, error.Actual);
        Assert.Empty(client.Host.GetConnections());
    }

    [Fact]
    public async Task A_dial_with_an_address_is_not_failed_by_a_shared_peer_id_dial_that_knows_no_address()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        // The peer store knows no address of the server: the peer-id dial fails; the address dial, started while that
        // attempt is pending (it yields before dialing), joins it and must still reach the server with its address.
        var byId = client.Host.DialAsync(server.Host.PeerId, CancellationToken.None).AsTask();
        var byAddress = client.Host.DialAsync(server.Address, CancellationToken.None).AsTask();
        await Assert.ThrowsAsync<DialFailedException>(() => byId.WaitAsync(Patience));
        var connection = await byAddress.WaitAsync(Patience);
        Assert.Equal(server.Host.PeerId, connection.RemotePeer);
    }

    [Fact]
    public async Task Simultaneous_dials_to_one_peer_share_one_connection()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        var dials = Enumerable.Range(0, 10).Select(_ => client.Host.DialAsync(server.Address, CancellationToken.None).AsTask());
        var connections = await Task.WhenAll(dials).WaitAsync(Patience);
        Assert.Single(connections.Distinct());
        Assert.Single(client.Host.GetConnections(server.Host.PeerId));
    }

    [Fact]
    public async Task Cancelling_a_dial_to_a_silent_listener_ends_it()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0); // accepts TCP but never answers multistream
        silent.Start();
        int port = ((IPEndPoint)silent.LocalEndpoint).Port;
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        using var otherKey = PrivateKey.Generate();
        var target = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}/p2p/{PeerId.FromPublicKey(otherKey.PublicKey)}");

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            client.Host.DialAsync(target, cts.Token).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task A_dial_that_exceeds_the_dial_timeout_fails_with_TimeoutException()
    {
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        int port = ((IPEndPoint)silent.LocalEndpoint).Port;
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0",
            options: o => o.DialTimeout = TimeSpan.FromMilliseconds(300));
        var target = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}");
        await Assert.ThrowsAsync<TimeoutException>(() =>
            client.Host.DialAsync(target, CancellationToken.None).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Gater_denials_refuse_dials_and_inbound_connections()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network,
            p2p => p2p.AddConnectionGater(new DenyAllGater(secured: true)));
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        await using var blockedClient = await TestPeer.StartAsync("/memory/0", network,
            p2p => p2p.AddConnectionGater(new DenyAllGater(dial: true)));

        await Assert.ThrowsAsync<ConnectionGatedException>(() =>
            blockedClient.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience));

        // The server refuses after the handshake; the client sees its connection end.
        await WaitUntilAsync(async () =>
        {
            try
            {
                var c = await client.Host.DialAsync(server.Address, CancellationToken.None);
                await c.Completion.WaitAsync(Patience);
            }
            catch (Exception)
            {
                // refused during the muxer negotiation
            }
            return server.Host.GetConnections().Count == 0;
        });
        Assert.Empty(server.Host.GetConnections());
    }

    [Fact]
    public async Task Connection_limit_refuses_further_peers()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network, options: o => o.Limits.MaxConnections = 1);
        await using var first = await TestPeer.StartAsync("/memory/0", network);
        await using var second = await TestPeer.StartAsync("/memory/0", network);
        await first.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await WaitUntilAsync(() => Task.FromResult(server.Host.GetConnections().Count == 1));

        // The server accepts the handshake, then refuses to keep the connection; ping over it fails.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await second.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
            await second.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience);
        });
        Assert.Single(server.Host.GetConnections());
    }

    [Fact]
    public async Task Stream_limit_per_connection_refuses_outbound_streams_with_a_typed_error()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network, options: o => o.Limits.MaxStreamsPerConnection = 2);
        using var registration = server.Host.AddHandler(new EchoHandler());
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None);
        // Identify runs both ways on connect, each stream taking a slot. A zero count alone can be seen between the
        // client's own identify ending and the server's identify stream being accepted, so first wait until each
        // side has stored the other's answer (both streams were reserved by then), then until their slots are free.
        await WaitUntilAsync(() => Task.FromResult(
            client.Host.PeerStore.GetProtocols(server.Host.PeerId).Contains(IdentifyProtocol.Id)
            && server.Host.PeerStore.GetProtocols(client.Host.PeerId).Contains(IdentifyProtocol.Id)
            && connection.StreamCount == 0));
        await using var a = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);
        await using var b = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);
        var error = await Assert.ThrowsAsync<ResourceLimitExceededException>(() =>
            connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None).AsTask());
        Assert.Equal(2, error.Limit);
    }

    [Fact]
    public async Task Connection_manager_trims_down_to_the_low_watermark()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network, options: o =>
        {
            o.ConnectionManager.HighWater = 2;
            o.ConnectionManager.LowWater = 1;
            o.ConnectionManager.GracePeriod = TimeSpan.Zero;
        });
        var clients = new List<TestPeer>();
        try
        {
            for (int i = 0; i < 3; i++) clients.Add(await TestPeer.StartAsync("/memory/0", network));
            server.Host.ConnectionManager.Protect(clients[0].Host.PeerId, "test");
            foreach (var client in clients) await client.Host.DialAsync(server.Address, CancellationToken.None);
            await WaitUntilAsync(() => Task.FromResult(server.Host.GetConnections().Count == 1));
            Assert.Equal(clients[0].Host.PeerId, server.Host.GetConnections()[0].RemotePeer);
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Events_report_connect_and_disconnect()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        var client = await TestPeer.StartAsync("/memory/0", network);
        var connected = new TaskCompletionSource<PeerId>();
        var disconnected = new TaskCompletionSource<PeerId>();
        using var s1 = server.Host.Events.Subscribe<PeerConnected>(e => connected.TrySetResult(e.Connection.RemotePeer));
        using var s2 = server.Host.Events.Subscribe<PeerDisconnected>(e => disconnected.TrySetResult(e.Connection.RemotePeer));
        await client.Host.DialAsync(server.Address, CancellationToken.None);
        Assert.Equal(client.Host.PeerId, await connected.Task.WaitAsync(Patience));
        await client.DisposeAsync();
        Assert.Equal(client.Host.PeerId, await disconnected.Task.WaitAsync(Patience));
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(50);
        }
    }

    private sealed class DenyAllGater(bool dial = false, bool accept = false, bool secured = false) : IConnectionGater
    {
        public GateDecision InterceptDial(PeerId? peer, Multiaddr address) =>
            dial ? GateDecision.Deny("test denies dials") : GateDecision.Allow;

        public GateDecision InterceptAccept(Multiaddr localAddress, Multiaddr remoteAddress) =>
            accept ? GateDecision.Deny("test denies accepts") : GateDecision.Allow;

        public GateDecision InterceptSecured(Direction direction, PeerId peer, Multiaddr remoteAddress, string securityProtocol) =>
            secured ? GateDecision.Deny("test denies secured") : GateDecision.Allow;
    }
}
