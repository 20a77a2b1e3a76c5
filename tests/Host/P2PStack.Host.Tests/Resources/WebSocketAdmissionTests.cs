using System.Net;
using System.Net.Sockets;
using System.Text;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host.Tests;

/// <summary>
/// WebSocket upgrades go through the host's admission at TCP accept, as TCP connections do: the gaters, the host's
/// handshake limits and the resource manager decide before the listener reads a byte of the HTTP upgrade.
/// </summary>
public sealed class WebSocketAdmissionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private const string UpgradeRequest =
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    [Fact]
    public async Task A_gated_address_gets_no_websocket_upgrade_while_others_do()
    {
        var gater = new RefuseFrom("127.0.0.2");
        await using var server = await StartWsAsync(p => p.AddConnectionGater(gater));
        int port = PortOf(server);

        // Refused at accept: the connection is closed without the 101 (before the fix the upgrade ran first).
        Assert.Equal("", await UpgradeFromAsync("127.0.0.2", port));
        Assert.StartsWith("HTTP/1.1 101", await UpgradeFromAsync("127.0.0.1", port), StringComparison.Ordinal);
        Assert.True(gater.Asked >= 2);

        // A real client from an allowed address connects and pings over /ws.
        await using var client = await StartWsAsync();
        await client.Host.DialAsync(server.Host.ListenAddresses[0].Encapsulate($"/p2p/{server.Host.PeerId}"), CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Single(await client.Get<P2PStack.Protocols.Ping.PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None)
            .WaitAsync(Patience));
    }

    [Fact]
    public async Task Upgrades_count_against_the_hosts_handshake_limit_per_ip_and_the_resource_managers_connection_limits()
    {
        // The held connections must outlast the test: upgrade and handshake time limits beyond its span (with the
        // defaults, 10 s and 15 s, a loaded machine could see the stalled one closed and its slot free again).
        await using var server = await StartWsAsync(options: o =>
        {
            o.Limits.MaxPendingInboundPerIp = 1;
            o.Resources.Limits = ResourceLimits.Unlimited with { System = new ResourceLimit { ConnectionsInbound = 2 } };
            o.InboundUpgradeTimeout = TimeSpan.FromMinutes(5);
        }, handshakeTimeout: TimeSpan.FromMinutes(5));
        int port = PortOf(server);

        // One upgrade from 127.0.0.2 that never sends its request holds that IP's only handshake slot of the host
        // (the WebSocket listener alone would allow 8 per IP).
        using var stalled = await ConnectFromAsync("127.0.0.2", port);
        await WaitUntilAsync(() => server.Host.Resources.Transient.Usage.ConnectionsInbound == 1);
        Assert.Equal("", await UpgradeFromAsync("127.0.0.2", port));

        // Another address upgrades; with it, the system's inbound limit of 2 is reached: a third address is refused.
        using var second = await ConnectFromAsync("127.0.0.3", port);
        await WaitUntilAsync(() => server.Host.Resources.System.Usage.ConnectionsInbound == 2);
        Assert.Equal("", await UpgradeFromAsync("127.0.0.4", port));
        Assert.True(server.Host.Resources.Snapshot().Single(s => s.Kind == "system").Refusals >= 1);

        // Closed before the upgrade: the admissions are returned.
        stalled.Dispose();
        second.Dispose();
        await WaitUntilAsync(() => server.Host.Resources.System.Usage.IsZero);
        Assert.StartsWith("HTTP/1.1 101", await UpgradeFromAsync("127.0.0.2", port), StringComparison.Ordinal);
    }

    private static Task<TestPeer> StartWsAsync(Action<IP2PBuilder>? configure = null, Action<HostOptions>? options = null,
        TimeSpan? handshakeTimeout = null) =>
        TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0/ws", configure: p =>
        {
            p.AddWebSocketTransport(ws =>
            {
                ws.ExemptLoopbackFromIpLimit = false;
                if (handshakeTimeout is { } timeout) ws.HandshakeTimeout = timeout;
            });
            configure?.Invoke(p);
        }, options: o =>
        {
            o.Limits.ExemptLoopbackFromIpLimit = false;
            options?.Invoke(o);
        });

    private static int PortOf(TestPeer peer) => int.Parse(peer.Host.ListenAddresses[0].ToString().Split('/')[4]);

    private static async Task<Socket> ConnectFromAsync(string localIp, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(localIp), 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)).WaitAsync(Patience);
        return socket;
    }

    /// <summary>Sends an upgrade request from <paramref name="localIp"/>; returns the response's status line, or ""
    /// when the listener closed the connection without answering.</summary>
    private static async Task<string> UpgradeFromAsync(string localIp, int port)
    {
        using var socket = await ConnectFromAsync(localIp, port);
        using var timeout = new CancellationTokenSource(Patience);
        var received = new StringBuilder();
        var buffer = new byte[512];
        try
        {
            await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(UpgradeRequest), SocketFlags.None, timeout.Token);
            while (!received.ToString().Contains("\r\n", StringComparison.Ordinal))
            {
                int read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (read == 0) break;
                received.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (SocketException)
        {
            // Reset by the listener: refused.
        }
        string text = received.ToString();
        int end = text.IndexOf("\r\n", StringComparison.Ordinal);
        return end < 0 ? text : text[..end];
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the condition did not come true");
            await Task.Delay(20);
        }
    }

    private sealed class RefuseFrom(string ip) : IConnectionGater
    {
        private int _asked;

        public int Asked => Volatile.Read(ref _asked);

        public GateDecision InterceptDial(PeerId? peer, Multiaddr address) => GateDecision.Allow;

        public GateDecision InterceptSecured(Direction direction, PeerId peer, Multiaddr remoteAddress, string securityProtocol) =>
            GateDecision.Allow;

        public GateDecision InterceptAccept(Multiaddr localAddress, Multiaddr remoteAddress)
        {
            Interlocked.Increment(ref _asked);
            return remoteAddress.GetIPAddress()?.ToString() == ip ? GateDecision.Deny($"{ip} is not welcome") : GateDecision.Allow;
        }
    }
}
