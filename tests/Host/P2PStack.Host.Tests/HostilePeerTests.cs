using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>Hand-written hostile peers against a real host: each attack is refused, and the host keeps serving.</summary>
public sealed class HostilePeerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    // ---- Half-open connections (raw TCP sockets that never finish the upgrade) ----

    [Fact]
    public async Task Half_open_connections_beyond_the_per_ip_limit_are_dropped_at_accept_while_other_peers_connect()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0", options: o =>
        {
            o.Limits.MaxPendingInboundPerIp = 2;
            o.InboundUpgradeTimeout = TimeSpan.FromMinutes(5); // the half-open ones stay pending for the whole test
        });
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        int port = PortOf(server);

        // 127.0.0.2 is another loopback address on Linux: the attacker's IP, distinct from the honest client's.
        using var first = await ConnectFromAsync("127.0.0.2", port);
        using var second = await ConnectFromAsync("127.0.0.2", port);
        Assert.Equal(MultistreamHeader.Length, await ReceiveUntilClosedOrAsync(first, MultistreamHeader.Length));
        Assert.Equal(MultistreamHeader.Length, await ReceiveUntilClosedOrAsync(second, MultistreamHeader.Length));

        // Both slots of that IP are taken: the third is closed at accept, before a single byte is sent.
        Assert.Equal(0, await ConnectAndReceiveAsync("127.0.0.2", port));

        // An honest peer from another address is served meanwhile.
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Single(await client.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience));
    }

    [Fact]
    public async Task A_half_open_connection_is_cut_at_the_upgrade_timeout_and_frees_its_slot()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0", options: o =>
        {
            o.Limits.MaxPendingInboundPerIp = 1;
            o.InboundUpgradeTimeout = TimeSpan.FromSeconds(1);
        });
        int port = PortOf(server);

        // It takes the IP's only slot and never answers the host's header: the host cuts it (end of stream or reset).
        // The read returns at the cut; were the connection never cut, it would time out and fail the test.
        using var stalled = await ConnectFromAsync("127.0.0.3", port);
        await ReceiveUntilClosedOrAsync(stalled, int.MaxValue);

        // Its slot comes back: a new connection from the same IP is admitted (the host sends its header) again.
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if (await ConnectAndReceiveAsync("127.0.0.3", port) == MultistreamHeader.Length) break;
            Assert.True(DateTime.UtcNow < deadline, "the pending slot of the cut connection was never released");
        }
    }

    [Fact]
    public async Task Established_inbound_connections_from_one_ip_beyond_the_limit_are_refused_with_a_typed_error_and_the_slot_comes_back()
    {
        // One address with free peer ids used to take every connection slot (issue 18, item 5). Loopback is exempt by
        // default (local processes); the exemption is off here so that 127.0.0.1 stands for the attacker's address.
        var log = new LogCapture();
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0", configure: log.AddTo, options: o =>
        {
            o.Limits.MaxInboundConnectionsPerIp = 2;
            o.Limits.ExemptLoopbackFromIpLimit = false;
        });
        await using var first = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var second = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var third = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        foreach (var peer in new[] { first, second })
        {
            await peer.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
            Assert.Single(await peer.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience));
        }

        // The third identity from the same address is refused once its handshake is done: ResourceLimitExceededException
        // names the scope and the limit.
        try
        {
            await third.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
            await third.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience);
        }
        catch (Exception e) when (e is IOException or DialFailedException or P2PFormatException)
        {
        }
        await log.WaitForAsync("ip 127.0.0.1: inbound connections limit of 2 reached");
        Assert.Equal(2, server.Host.GetConnections().Count);

        // One leaves: its slot comes back.
        await first.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None);
        var deadline = DateTime.UtcNow + Patience;
        while (server.Host.GetConnections().Count > 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "the server never released the closed connection");
            await Task.Delay(20);
        }
        await third.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Single(await third.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience));
    }

    [Fact]
    public async Task Loopback_peers_are_exempt_from_the_per_ip_connection_limit_by_default()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0", options: o => o.Limits.MaxInboundConnectionsPerIp = 1);
        await using var first = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var second = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        foreach (var peer in new[] { first, second })
        {
            await peer.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
            Assert.Single(await peer.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience));
        }
        Assert.Equal(2, server.Host.GetConnections().Count);
    }

    [Theory]
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")]
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::")]
    [InlineData("::ffff:10.1.2.3", "10.1.2.3")]
    [InlineData("10.1.2.3", "10.1.2.3")]
    public void Pending_connections_from_ipv6_count_per_64_so_one_host_cannot_rotate_addresses(string remote, string group)
    {
        Assert.Equal(IPAddress.Parse(group), PeerHost.AdmissionGroup(IPAddress.Parse(remote)));
        Assert.Null(PeerHost.AdmissionGroup(null));
    }

    // ---- Streams ----

    [Fact]
    public async Task A_handler_that_throws_resets_its_stream_is_logged_once_and_the_connection_keeps_serving()
    {
        var network = new MemoryNetwork();
        var log = new LogCapture();
        await using var server = await TestPeer.StartAsync("/memory/0", network, configure: log.AddTo);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        using var registration = server.Host.AddHandler(new ThrowingHandler());
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);

        await using (var stream = await connection.OpenStreamAsync([ThrowingHandler.Protocol], CancellationToken.None))
        {
            await Assert.ThrowsAsync<StreamResetException>(() => stream.Input.ReadAsync().AsTask().WaitAsync(Patience));
        }

        await log.WaitForAsync(ThrowingHandler.Failure);
        Assert.Equal(1, log.Count(ThrowingHandler.Failure));
        Assert.Single(await client.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience));
        Assert.Same(connection, Assert.Single(client.Host.GetConnections()));
    }

    [Fact]
    public async Task Inbound_streams_beyond_the_per_connection_limit_are_reset_and_the_slot_comes_back()
    {
        var network = new MemoryNetwork();
        var log = new LogCapture();
        await using var server = await TestPeer.StartAsync("/memory/0", network, configure: log.AddTo,
            options: o => o.Limits.MaxStreamsPerConnection = 2);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        using var registration = server.Host.AddHandler(new EchoHandler());
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var serverSide = await WaitForAsync(() => server.Host.GetConnections().SingleOrDefault());
        await WaitUntilAsync(() => connection.StreamCount == 0 && serverSide.StreamCount == 0); // identify done

        var a = await EchoOnceAsync(connection);
        var b = await EchoOnceAsync(connection);
        await using (var refused = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None))
        {
            await Assert.ThrowsAsync<StreamResetException>(() => refused.Input.ReadAsync().AsTask().WaitAsync(Patience));
        }

        await log.WaitForAsync("streams per connection");
        Assert.Equal(1, log.Count("streams per connection"));

        // Closing one held stream frees a slot: eventually a new stream is served again.
        await a.Output.CompleteAsync();
        await a.DisposeAsync();
        await WaitUntilAsync(() => serverSide.StreamCount < 2);
        var c = await EchoOnceAsync(connection);
        await b.DisposeAsync();
        await c.DisposeAsync();
    }

    // ---- Protocols ----

    [Fact]
    public async Task A_ping_peer_that_never_reads_the_answers_is_reset_after_the_idle_timeout()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network,
            configure: p2p => p2p.Services.Configure<PingOptions>(o => o.IdleTimeout = TimeSpan.FromMilliseconds(300)));
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var serverSide = await WaitForAsync(() => server.Host.GetConnections().SingleOrDefault());

        // Pings as fast as the windows allow and never reads a pong: the server's answers back up, then it gives up.
        var stream = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None);
        var flood = new byte[PingProtocol.PayloadSize * 64];
        var writing = Task.Run(async () =>
        {
            while (true) await stream.Output.WriteAsync(flood);
        });
        try
        {
            await Assert.ThrowsAsync<StreamResetException>(() => writing.WaitAsync(Patience));
        }
        finally
        {
            stream.Reset(); // if the server never gave up, this ends our blocked writer before the stream goes
            await writing.ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(Patience);
            await stream.DisposeAsync();
        }

        await WaitUntilAsync(() => serverSide.StreamCount == 0);
        Assert.Single(await client.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience));
    }

    [Fact]
    public async Task Identify_pushes_with_too_many_addresses_or_protocols_are_refused_and_store_nothing()
    {
        var network = new MemoryNetwork();
        var log = new LogCapture();
        await using var server = await TestPeer.StartAsync("/memory/0", network, configure: log.AddTo);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var peer = client.Host.PeerId;
        await WaitUntilAsync(() => server.Host.PeerStore.GetProtocols(peer).Contains(IdentifyProtocol.PushId));

        var tooManyAddresses = new Protocols.Identify.Pb.Identify();
        tooManyAddresses.ListenAddrs.AddRange(Enumerable.Range(0, 200).Select(i => Address($"/ip4/10.9.0.{i}/tcp/1")));
        await PushAsync(client, server, tooManyAddresses);
        await log.WaitForAsync("sent 200 listen addresses, over the limit of 128");

        var tooManyProtocols = new Protocols.Identify.Pb.Identify();
        tooManyProtocols.Protocols.AddRange(Enumerable.Range(0, 300).Select(i => $"/junk/{i}"));
        await PushAsync(client, server, tooManyProtocols);
        await log.WaitForAsync("sent 300 protocols, over the limit of 256");

        // A garbage signed record is ignored (logged), the plain addresses are used, and the push is accepted.
        var valid = new Protocols.Identify.Pb.Identify { SignedPeerRecord = ByteString.CopyFrom(new byte[] { 0x0a, 0x03, 1, 2 }) };
        valid.ListenAddrs.Add(Address("/ip4/10.8.0.1/tcp/1"));
        valid.Protocols.AddRange([IdentifyProtocol.PushId, "/marker/1.0.0"]);
        await PushAsync(client, server, valid);
        await WaitUntilAsync(() => server.Host.PeerStore.GetProtocols(peer).Contains("/marker/1.0.0"));

        var stored = server.Host.PeerStore.GetAddresses(peer).Select(a => a.ToString()).ToList();
        Assert.Contains("/ip4/10.8.0.1/tcp/1", stored);
        Assert.DoesNotContain(stored, a => a.StartsWith("/ip4/10.9.", StringComparison.Ordinal));
        Assert.DoesNotContain(server.Host.PeerStore.GetProtocols(peer), p => p.StartsWith("/junk/", StringComparison.Ordinal));
        Assert.Equal(1, log.Count("sent 200 listen addresses"));
        Assert.Equal(1, log.Count("sent 300 protocols"));
        Assert.Equal(1, log.Count("Ignoring the invalid signed peer record"));
    }

    private static async Task PushAsync(TestPeer from, TestPeer to, Protocols.Identify.Pb.Identify message)
    {
        await using var stream = await from.Host.OpenStreamAsync(to.Host.PeerId, [IdentifyProtocol.PushId], CancellationToken.None);
        try
        {
            await IdentifyProtocol.WriteAsync(stream.Output, message, CancellationToken.None).AsTask().WaitAsync(Patience);
        }
        catch (StreamResetException)
        {
            // A refused push may be reset before our end of stream goes out.
        }
    }

    private static ByteString Address(string text) => ByteString.CopyFrom(Addressing.Multiaddr.Parse(text).Bytes.Span);

    // ---- Helpers ----

    private static readonly byte[] MultistreamHeader = [0x13, .. "/multistream/1.0.0\n"u8];

    private static int PortOf(TestPeer peer) => int.Parse(peer.Host.ListenAddresses[0].ToString().Split('/')[4]);

    private static async Task<Socket> ConnectFromAsync(string localIp, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(localIp), 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Patience);
        return socket;
    }

    /// <summary>Connects and reads what the host sends first (its multistream header, unless it refuses the
    /// connection: then it is closed or reset, possibly before the connect itself completes).</summary>
    private static async Task<int> ConnectAndReceiveAsync(string localIp, int port)
    {
        Socket socket;
        try
        {
            socket = await ConnectFromAsync(localIp, port);
        }
        catch (SocketException)
        {
            return 0;
        }

        using (socket) return await ReceiveUntilClosedOrAsync(socket, MultistreamHeader.Length);
    }

    /// <summary>Reads until <paramref name="wanted"/> bytes arrived or the host closed or reset the connection;
    /// returns the bytes received. Neither within 30 s throws (OperationCanceledException).</summary>
    private static async Task<int> ReceiveUntilClosedOrAsync(Socket socket, int wanted)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var buffer = new byte[256];
        int total = 0;
        try
        {
            while (total < wanted)
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (read == 0) break;
                total += read;
            }
        }
        catch (SocketException)
        {
            // reset by the host
        }

        return total;
    }

    private static async Task<IStream> EchoOnceAsync(IConnection connection)
    {
        var stream = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);
        await stream.Output.WriteAsync(new byte[] { 42 });
        var result = await stream.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal(42, result.Buffer.FirstSpan[0]);
        stream.Input.AdvanceTo(result.Buffer.End);
        return stream;
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

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(20);
        }
    }

    private sealed class ThrowingHandler : IProtocolHandler
    {
        public const string Protocol = "/test/throws/1.0.0";
        public const string Failure = "handler bug on purpose";

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        // Throws synchronously, before any Task exists: the host must survive that too.
        public Task HandleAsync(IStream stream, CancellationToken cancellationToken) => throw new InvalidOperationException(Failure);
    }
}
