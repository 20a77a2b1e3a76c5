using P2PStack.Interop.Support;
using P2PStack.Addressing;

namespace P2PStack.Interop.Tests;

/// <summary>A running interop/js/peer.mjs (js-libp2p 3 with tcp, ws, noise, yamux, identify, ping, perf, echo).</summary>
public sealed class JsPeer : JsProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private JsPeer() : base("js peer", DefaultTimeout)
    {
    }

    public Multiaddr TcpAddress => Addresses.First(a => !IsWebSocket(a));

    public Multiaddr WebSocketAddress => Addresses.First(IsWebSocket);

    public Multiaddr Address(string transport) => transport == "ws" ? WebSocketAddress : TcpAddress;

    public static bool IsWebSocket(Multiaddr address) => address.ToString().Contains("/ws", StringComparison.Ordinal);

    /// <summary>Installs interop/js if needed and starts a peer listening on TCP and WebSocket (ports picked by the OS).</summary>
    public static Task<JsPeer> StartAsync() => StartAsync([]);

    /// <summary>Like <see cref="StartAsync()"/> with more peer.mjs options, e.g. <c>--psk FILE</c> or <c>--encrypters tls</c>.</summary>
    public static async Task<JsPeer> StartAsync(IEnumerable<string> options)
    {
        var peer = new JsPeer();
        await peer.LaunchAsync("peer.mjs", ["--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/tcp/0/ws", .. options]).ConfigureAwait(false);
        return peer;
    }
}

/// <summary>One js peer per test class, stopped when the class is done.</summary>
public sealed class JsPeerFixture : IAsyncLifetime
{
    private JsPeer? _peer;

    public JsPeer Peer => _peer ?? throw new InvalidOperationException("the js peer is not started");

    public async Task InitializeAsync() => _peer = await JsPeer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_peer is not null) await _peer.DisposeAsync();
    }
}
