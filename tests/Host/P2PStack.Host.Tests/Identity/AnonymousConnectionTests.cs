using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Perf;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests.Identity;

/// <summary>
/// Anonymous connections (the two ends of an end-to-end connection over an onion circuit) serve inbound only the
/// protocols that opt in, and identify over them lists only those: an anonymous peer can neither fingerprint a node by
/// its services nor use them through it.
/// </summary>
public class AnonymousConnectionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_private_connection_serves_only_protocols_that_opt_in()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network, configure: p2p => p2p.AddProtocol<EchoHandler>()
            .AddProtocol<ForAnonymousRemotesHandler>());
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        var ephemeral = new LocalIdentity(key);

        var connection = await client.Host.DialAsync(server.Address, new DialOptions { Identity = ephemeral }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.True(connection.IsAnonymous);
        Assert.False(connection.ServesInbound(EchoHandler.Protocol));
        Assert.False(connection.ServesInbound(PerfProtocol.Id));
        Assert.True(connection.ServesInbound(PingProtocol.Id));
        // This side is a per-connection identity: a protocol served for anonymous remotes is not served here.
        Assert.False(connection.ServesInbound(ForAnonymousRemotesHandler.Protocol));
        // Outbound is the dialer's choice: the client may run anything over it.
        await using (var echo = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Single(await client.Get<PingService>().PingAsync(echo, 1, CancellationToken.None).WaitAsync(Patience));

        var atServer = await WaitForAsync(() => server.Host.GetConnections(ephemeral.PeerId).SingleOrDefault());
        Assert.False(atServer.IsAnonymous);
        // The server cannot reach the client's other services over it.
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(async () =>
        {
            await using var stream = await atServer.OpenStreamAsync([EchoHandler.Protocol, PerfProtocol.Id], CancellationToken.None);
        });
        await using (var ping = await atServer.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Single(await server.Get<PingService>().PingAsync(ping, 1, CancellationToken.None).WaitAsync(Patience));
        // Identify lists only what is served there.
        var info = await server.Get<IdentifyService>().IdentifyAsync(atServer, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal([IdentifyProtocol.Id, IdentifyProtocol.PushId, PingProtocol.Id], info.Protocols.Order(StringComparer.Ordinal));
        // Over a connection under its own identity the client lists everything.
        var own = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.False(own.IsAnonymous);
        var ownAtServer = await WaitForAsync(() => server.Host.GetConnections(client.Host.PeerId).SingleOrDefault());
        var full = await server.Get<IdentifyService>().IdentifyAsync(ownAtServer, CancellationToken.None).WaitAsync(Patience);
        Assert.Contains(EchoHandler.Protocol, full.Protocols);
    }

    [Fact]
    public async Task An_inbound_connection_from_an_anonymizing_transport_serves_opted_in_protocols_and_raises_no_peer_event()
    {
        await using var listening = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0", configure: p2p => p2p
            .AddTransport<StreamTransport>().AddProtocol<StreamTransport>().AddProtocol<EchoHandler>().AddProtocol<ForAnonymousRemotesHandler>(),
            options: o => o.AnonymousConnectionProtocols.Add(PerfProtocol.Id));
        await using var dialing = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0", configure: p2p => p2p
            .AddTransport<StreamTransport>().AddProtocol<StreamTransport>().AddProtocol<ForAnonymousRemotesHandler>());
        listening.Get<StreamTransport>().InboundAnonymous = true;
        var events = new List<IConnection>();
        using var subscription = listening.Host.Events.Subscribe<PeerConnected>(e => { lock (events) events.Add(e.Connection); });
        await dialing.Host.DialAsync(listening.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await using var virtualListener = await listening.Host.ListenAsync(StreamTransport.AnyListenAddress, CancellationToken.None);
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        var ephemeral = new LocalIdentity(key);

        var target = virtualListener.Address.Encapsulate($"/p2p/{listening.Host.PeerId}");
        var inner = await dialing.Host.DialAsync(target, new DialOptions { Identity = ephemeral }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        // The host handed the dial's peer to the transport.
        Assert.Equal(listening.Host.PeerId, dialing.Get<StreamTransport>().LastDialedPeer);

        var atListener = await WaitForAsync(() => listening.Host.GetConnections(ephemeral.PeerId).SingleOrDefault());
        Assert.True(atListener.IsAnonymous);
        Assert.Empty(listening.Host.PeerStore.GetProtocols(ephemeral.PeerId));
        lock (events) Assert.DoesNotContain(events, c => c.RemotePeer.Equals(ephemeral.PeerId));

        // Echo did not opt in; perf is listed in the options; ping opts in.
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(async () =>
        {
            await using var stream = await inner.OpenStreamAsync([EchoHandler.Protocol, "/other/1.0.0"], CancellationToken.None);
        });
        Assert.True(atListener.ServesInbound(PerfProtocol.Id));
        Assert.False(atListener.ServesInbound(EchoHandler.Protocol));
        // The listener is itself here (the remote is the anonymous one): a protocol served for anonymous remotes runs, at
        // the listener only; the dialer, under its ephemeral identity, does not serve it.
        Assert.True(atListener.ServesInbound(ForAnonymousRemotesHandler.Protocol));
        Assert.False(inner.ServesInbound(ForAnonymousRemotesHandler.Protocol));
        await using (var served = await inner.OpenStreamAsync([ForAnonymousRemotesHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience))
        {
            await served.Output.CompleteAsync();
            var read = await served.Input.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.True(read.IsCompleted);
        }
        await using (var ping = await inner.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Single(await dialing.Get<PingService>().PingAsync(ping, 1, CancellationToken.None).WaitAsync(Patience));
        var info = await dialing.Get<IdentifyService>().IdentifyAsync(inner, CancellationToken.None).WaitAsync(Patience);
        Assert.Contains(PerfProtocol.Id, info.Protocols);
        Assert.DoesNotContain(EchoHandler.Protocol, info.Protocols);
    }

    /// <summary>Served for anonymous remotes only where this side is the node itself (as the DHT is).</summary>
    private sealed class ForAnonymousRemotesHandler : IProtocolHandler
    {
        public const string Protocol = "/test/for-anonymous-remotes/1.0.0";

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public bool RunForAnonymousRemotes => true;

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream) await stream.Output.CompleteAsync();
        }
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
