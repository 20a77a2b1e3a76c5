using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests.DialContext;

/// <summary>
/// Limited (relayed) connections carry only protocols that opt in (identify, ping here; DCUtR later), a stream of any
/// other protocol goes over a direct connection, dialed if need be, and a ForceDirect dial never settles for a proxied
/// one. The limited connection comes from a test transport standing in for circuit relay v2.
/// </summary>
public class LimitedConnectionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly DialOptions AllowLimited = new() { AllowLimited = true };

    private static Task<TestPeer> StartAsync(MemoryNetwork network, Action<HostOptions>? options = null) =>
        TestPeer.StartAsync("/memory/0", network, p2p =>
        {
            p2p.ConfigureHost(o => o.ListenAddresses.Add(LimitedTestTransport.AnyListenAddress));
            p2p.Services.AddSingleton<ITransport>(sp => new LimitedTestTransport(sp.GetRequiredService<MemoryNetwork>()));
        }, options);

    private static Multiaddr LimitedAddress(TestPeer peer) =>
        peer.Host.ListenAddresses.Single(a => a.Has(LimitedTestTransport.Marker)).Encapsulate($"/p2p/{peer.Host.PeerId}");

    private static Multiaddr DirectAddress(TestPeer peer) =>
        peer.Host.ListenAddresses.Single(a => !a.Has(LimitedTestTransport.Marker)).Encapsulate($"/p2p/{peer.Host.PeerId}");

    [Fact]
    public async Task A_limited_connection_is_not_reused_for_a_protocol_that_did_not_opt_in()
    {
        var network = new MemoryNetwork();
        await using var server = await StartAsync(network);
        await using var client = await StartAsync(network);
        using var echo = server.Host.AddHandler(new EchoHandler());

        var limited = await client.Host.DialAsync(LimitedAddress(server), AllowLimited, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.True(limited.IsLimited);
        Assert.False(limited.IsDirect);
        Assert.Equal(LimitedTestTransport.Limits, limited.Limits);
        await WaitUntilAsync(() => server.Host.GetConnections(client.Host.PeerId).Count == 1);
        Assert.True(Assert.Single(server.Host.GetConnections(client.Host.PeerId)).IsLimited); // limited on both ends

        // Identify opted in: it ran over the limited connection and brought the server's direct address and protocols.
        await WaitUntilAsync(() => client.Host.PeerStore.GetProtocols(server.Host.PeerId).Contains(EchoHandler.Protocol)
            && client.Host.PeerStore.GetAddresses(server.Host.PeerId).Contains(DirectAddress(server).DecapsulateCode(MultiaddrProtocols.P2P.Code)));
        // Ping opted in too: it uses the limited connection, the only one.
        Assert.Single(await client.Get<PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None).WaitAsync(Patience));
        Assert.Same(limited, Assert.Single(client.Host.GetConnections(server.Host.PeerId)));

        // Echo did not: the limited connection refuses it outright...
        await Assert.ThrowsAsync<LimitedConnectionException>(() =>
            limited.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None).AsTask());
        // ...and the host opens it over a new direct connection instead.
        await using (var stream = await client.Host.OpenStreamAsync(server.Host.PeerId, [EchoHandler.Protocol], CancellationToken.None)
            .AsTask().WaitAsync(Patience))
        {
            Assert.NotSame(limited, stream.Connection);
            Assert.True(stream.Connection.IsDirect);
            Assert.False(stream.Connection.IsLimited);
            await stream.Output.WriteAsync("over the direct connection"u8.ToArray());
            await stream.Output.CompleteAsync();
            var reply = new MemoryStream();
            await stream.Input.CopyToAsync(reply).WaitAsync(Patience);
            Assert.Equal("over the direct connection"u8.ToArray(), reply.ToArray());
        }

        // With both at hand, direct is preferred, even for protocols that could run on the limited one.
        var direct = await client.Host.DialAsync(server.Host.PeerId, CancellationToken.None);
        Assert.True(direct.IsDirect);
        Assert.Same(direct, await client.Host.DialAsync(server.Host.PeerId, AllowLimited, CancellationToken.None));
        await using var ping = await client.Host.OpenStreamAsync(server.Host.PeerId, [PingProtocol.Id], CancellationToken.None);
        Assert.Same(direct, ping.Connection);
    }

    [Fact]
    public async Task The_listener_of_a_limited_connection_answers_na_to_a_protocol_that_did_not_opt_in()
    {
        var network = new MemoryNetwork();
        await using var server = await StartAsync(network);
        // The client lets echo out on limited connections; the server's echo handler did not opt in.
        await using var client = await StartAsync(network, o => o.LimitedConnectionProtocols.Add(EchoHandler.Protocol));
        using var echo = server.Host.AddHandler(new EchoHandler());
        var limited = await client.Host.DialAsync(LimitedAddress(server), AllowLimited, CancellationToken.None).AsTask().WaitAsync(Patience);

        await using var stream = await limited.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => stream.Input.ReadAsync().AsTask().WaitAsync(Patience));
        await using var identify = await limited.OpenStreamAsync([IdentifyProtocol.Id], CancellationToken.None);
        await identify.Output.CompleteAsync();
        Assert.NotNull(await IdentifyProtocol.ReadAsync(identify.Input, 8192, CancellationToken.None).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task A_ForceDirect_dial_opens_a_new_direct_connection()
    {
        var network = new MemoryNetwork();
        await using var server = await StartAsync(network);
        await using var client = await StartAsync(network);
        var limited = await client.Host.DialAsync(LimitedAddress(server), AllowLimited, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Same(limited, await client.Host.DialAsync(server.Host.PeerId, AllowLimited, CancellationToken.None));

        // Only the limited address is known: a forced direct dial has nothing to try and never takes the proxy.
        client.Host.PeerStore.SetAddresses(server.Host.PeerId, [LimitedAddress(server).DecapsulateCode(MultiaddrProtocols.P2P.Code)], TimeSpan.FromHours(1));
        await Assert.ThrowsAsync<DialFailedException>(() => client.Host.DialAsync(server.Host.PeerId,
            new DialOptions { ForceDirect = true }, CancellationToken.None).AsTask().WaitAsync(Patience));

        client.Host.PeerStore.AddAddresses(server.Host.PeerId, [DirectAddress(server).DecapsulateCode(MultiaddrProtocols.P2P.Code)], TimeSpan.FromHours(1));
        var direct = await client.Host.DialAsync(server.Host.PeerId, new DialOptions { ForceDirect = true, AllowLimited = true },
            CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.NotSame(limited, direct);
        Assert.True(direct.IsDirect);
        Assert.False(direct.IsLimited);
        Assert.Equal(2, client.Host.GetConnections(server.Host.PeerId).Count);
        Assert.Contains(limited, client.Host.GetConnections(server.Host.PeerId)); // the limited one stays for its protocols
    }

    [Fact]
    public async Task A_dial_that_does_not_allow_limited_connections_fails_but_keeps_the_limited_connection()
    {
        var network = new MemoryNetwork();
        await using var server = await StartAsync(network);
        await using var client = await StartAsync(network);
        var error = await Assert.ThrowsAsync<LimitedConnectionException>(() =>
            client.Host.DialAsync(LimitedAddress(server), CancellationToken.None).AsTask().WaitAsync(Patience));
        var kept = Assert.IsAssignableFrom<IConnection>(error.Connection);
        Assert.True(kept.IsLimited);
        Assert.Same(kept, Assert.Single(client.Host.GetConnections(server.Host.PeerId)));
    }

    [Fact]
    public async Task A_dial_budget_bounds_the_whole_dial()
    {
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0); // never answers multistream
        silent.Start();
        int port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        await using var client = await TestPeer.StartAsync("/memory/0", new MemoryNetwork());
        var target = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}");
        await Assert.ThrowsAsync<TimeoutException>(() => client.Host.DialAsync(target,
            new DialOptions { Timeout = TimeSpan.FromMilliseconds(300) }, CancellationToken.None).AsTask().WaitAsync(Patience));
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
}
