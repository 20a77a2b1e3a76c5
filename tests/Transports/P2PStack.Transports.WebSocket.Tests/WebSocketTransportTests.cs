using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.WebSocket.Tests;

public class WebSocketTransportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/4001/ws", true, true)]
    [InlineData("/ip6/::1/tcp/4001/ws", true, true)]
    [InlineData("/dns4/localhost/tcp/4001/ws", true, false)]
    [InlineData("/ip4/127.0.0.1/tcp/0/ws", false, true)]
    [InlineData("/ip4/127.0.0.1/tcp/4001/wss", true, false)] // listening on /wss needs a certificate
    [InlineData("/ip4/127.0.0.1/tcp/4001/tls/ws", true, false)]
    [InlineData("/ip4/127.0.0.1/tcp/4001", false, false)]
    public void Address_support(string address, bool canDial, bool canListen)
    {
        var transport = new WebSocketTransport();
        Assert.Equal(canDial, transport.CanDial(Multiaddr.Parse(address)));
        Assert.Equal(canListen, transport.CanListen(Multiaddr.Parse(address)));
    }

    [Fact]
    public async Task Secure_listening_without_a_certificate_is_refused_clearly()
    {
        var transport = new WebSocketTransport();
        var listen = await Assert.ThrowsAsync<NotSupportedException>(
            () => transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/tls/ws"), default).AsTask());
        Assert.Contains("needs a certificate", listen.Message);
        var secure = new WebSocketTransport(new WebSocketTransportOptions { ServerCertificate = TestCertificates.SelfSigned("localhost") });
        Assert.True(secure.CanListen(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/wss")));
    }

    [Fact]
    public async Task A_wss_dial_to_an_untrusted_certificate_fails_with_an_io_error()
    {
        var server = new WebSocketTransport(new WebSocketTransportOptions { ServerCertificate = TestCertificates.SelfSigned("localhost") });
        await using var listener = await server.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/wss"), default);
        var dial = await Assert.ThrowsAsync<IOException>(() => new WebSocketTransport().DialAsync(listener.ListenAddress, default).AsTask());
        Assert.Contains("WebSocket dial", dial.Message);
    }

    [Fact]
    public void Accept_key_matches_the_rfc_6455_example()
    {
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WebSocketHandshake.ComputeAccept("dGhlIHNhbXBsZSBub25jZQ=="));
    }

    [Theory]
    [InlineData("POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")]
    [InlineData("GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost x\r\n\r\n")]
    public void Invalid_upgrade_requests_are_typed_errors(string head)
    {
        Assert.Throws<WebSocketHandshakeException>(() => WebSocketHandshake.Validate(head));
    }

    [Fact]
    public void Header_names_and_tokens_are_case_insensitive()
    {
        string key = WebSocketHandshake.Validate(
            "GET /x HTTP/1.1\r\nhost: a\r\nUPGRADE: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-version: 13\r\n" +
            "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", key);
    }

    [Fact]
    public async Task Upgrades_that_never_finish_hold_at_most_the_per_ip_share_of_slots_and_other_clients_still_connect()
    {
        // Before issue 18 (item 5) a listener ran every HTTP upgrade it accepted: sockets that never send their request
        // held a slot (and a descriptor) each for the whole handshake timeout, however many an address opened.
        var transport = new WebSocketTransport(new WebSocketTransportOptions
        {
            MaxPendingUpgradesPerIp = 2,
            HandshakeTimeout = TimeSpan.FromMinutes(5),
            ExemptLoopbackFromIpLimit = false, // 127.0.0.2 stands for the attacker's address
        });
        await using var listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws"), default);
        int port = int.Parse(listener.ListenAddress.ValueOf(MultiaddrProtocols.Tcp)!);

        // 127.0.0.2 is another loopback address on Linux: the attacker's, distinct from the honest client's.
        using var first = await ConnectFromAsync("127.0.0.2", port);
        using var second = await ConnectFromAsync("127.0.0.2", port);
        using var third = await ConnectFromAsync("127.0.0.2", port);
        // The third is closed at accept: its read ends (0 bytes or a reset) instead of waiting for an answer.
        var buffer = new byte[16];
        try
        {
            Assert.Equal(0, await third.ReceiveAsync(buffer).WaitAsync(Patience));
        }
        catch (SocketException)
        {
        }

        // An honest client from another address upgrades meanwhile.
        var accepting = listener.AcceptAsync(default).AsTask();
        await using var dialled = await transport.DialAsync(listener.ListenAddress, default).AsTask().WaitAsync(Patience);
        await using var accepted = await accepting.WaitAsync(Patience);
        Assert.Equal(Direction.Inbound, accepted.Direction);
    }

    private static async Task<Socket> ConnectFromAsync(string source, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(source), 0));
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, port).WaitAsync(Patience);
        return socket;
    }

    private static async Task<string> RawExchangeAsync(Multiaddr listenAddress, string request)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync("127.0.0.1", int.Parse(listenAddress.ValueOf(MultiaddrProtocols.Tcp)!));
        await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(request));
        var response = new StringBuilder();
        var buffer = new byte[1024];
        while (!response.ToString().Contains("\r\n\r\n"))
        {
            int read = await client.ReceiveAsync(buffer).WaitAsync(Patience);
            if (read == 0) break;
            response.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        }
        return response.ToString();
    }

    [Fact]
    public async Task Listener_answers_bad_requests_with_400_and_keeps_accepting()
    {
        var transport = new WebSocketTransport();
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws"), default);
        string bad = await RawExchangeAsync(listener.ListenAddress, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", bad);
        string oldVersion = await RawExchangeAsync(listener.ListenAddress,
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 426", oldVersion);
        Assert.Contains("Sec-WebSocket-Version: 13", oldVersion);

        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default).AsTask().WaitAsync(Patience);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);
    }

    [Fact]
    public async Task Listener_answers_a_raw_rfc_client_with_101_and_the_accept_key()
    {
        var transport = new WebSocketTransport();
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0/ws"), default);
        string response = await RawExchangeAsync(listener.ListenAddress,
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 101", response);
        Assert.Contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", response);
        await using IRawConnection accepted = await listener.AcceptAsync(default).AsTask().WaitAsync(Patience);
        Assert.Equal(Direction.Inbound, accepted.Direction);
    }

    [Fact]
    public async Task Dial_to_a_plain_tcp_server_that_is_not_websocket_fails_with_io_error()
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        server.Listen(4);
        int port = ((System.Net.IPEndPoint)server.LocalEndPoint!).Port;
        Task serve = Task.Run(async () =>
        {
            using Socket peer = await server.AcceptAsync();
            await peer.SendAsync(System.Text.Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
            await Task.Delay(100);
        });
        await Assert.ThrowsAsync<IOException>(() => new WebSocketTransport()
            .DialAsync(Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}/ws"), default).AsTask().WaitAsync(Patience));
        await serve.WaitAsync(Patience);
    }

    [Fact]
    public void Service_collection_registers_the_transport()
    {
        using ServiceProvider provider = new P2PBuilder(new ServiceCollection()).AddWebSocketTransport(o => o.KeepAliveInterval = TimeSpan.Zero).Services.BuildServiceProvider();
        Assert.IsType<WebSocketTransport>(Assert.Single(provider.GetServices<ITransport>()));
    }
}
