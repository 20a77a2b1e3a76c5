using Microsoft.Extensions.DependencyInjection;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

public class IdentifyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Both_sides_learn_protocols_addresses_key_and_agent()
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        var identified = new TaskCompletionSource<PeerIdentified>();
        using var _ = server.Host.Events.Subscribe<PeerIdentified>(e => identified.TrySetResult(e));

        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None);
        var info = await client.Get<IdentifyService>().IdentifyAsync(connection, CancellationToken.None).WaitAsync(Patience);

        Assert.Equal(server.Host.PeerId, info.Peer);
        Assert.Contains(PingProtocol.Id, info.Protocols);
        Assert.Contains(IdentifyProtocol.PushId, info.Protocols);
        Assert.Equal(server.Host.ListenAddresses, info.ListenAddresses);
        Assert.NotNull(info.SignedPeerRecord); // addresses came from the signed record
        Assert.Equal("p2pstack/0.1.0", client.Host.PeerStore.GetMetadata(server.Host.PeerId, IdentifyService.AgentVersionKey));
        Assert.Equal(connection.LocalAddress, info.ObservedAddress);

        // The server identified the client on its own, from the connection event.
        var identifiedClient = await identified.Task.WaitAsync(Patience);
        Assert.Equal(client.Host.PeerId, identifiedClient.Peer);
        Assert.Contains(PingProtocol.Id, server.Host.PeerStore.GetProtocols(client.Host.PeerId));
        // The event carries what was stored, so subscribers need not read the store back.
        Assert.NotNull(identifiedClient.Protocols);
        Assert.Equal(server.Host.PeerStore.GetProtocols(client.Host.PeerId).Order(), identifiedClient.Protocols.Order());
        Assert.Equal(client.Host.ListenAddresses, server.Host.PeerStore.GetAddresses(client.Host.PeerId));
    }

    /// <summary>An identify message larger than the yamux window (here a 400 KiB agent version, with the size limit
    /// raised to 1 MiB) arrives: the identify reader consumes it as it arrives, so window credit flows back.</summary>
    [Fact]
    public async Task Identify_message_larger_than_the_yamux_window_arrives()
    {
        var network = new MemoryNetwork();
        string agent = new('a', 400 * 1024);
        await using var server = await TestPeer.StartAsync("/memory/0", network,
            p2p => p2p.Services.Configure<IdentifyOptions>(o => o.AgentVersion = agent));
        await using var client = await TestPeer.StartAsync("/memory/0", network,
            p2p => p2p.Services.Configure<IdentifyOptions>(o => o.MaxMessageSize = 1024 * 1024));
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var info = await client.Get<IdentifyService>().IdentifyAsync(connection, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(server.Host.PeerId, info.Peer);
        Assert.Equal(agent, client.Host.PeerStore.GetMetadata(server.Host.PeerId, IdentifyService.AgentVersionKey));
    }

    [Fact]
    public async Task A_new_handler_is_pushed_to_connected_peers()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        int identified = 0;
        using var counting = client.Host.Events.Subscribe<PeerIdentified>(_ => Interlocked.Increment(ref identified));
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None);
        await client.Get<IdentifyService>().IdentifyAsync(connection, CancellationToken.None).WaitAsync(Patience);
        // The identify the client started on connect too: an answer still in flight would overwrite the pushed list.
        await WaitUntil(() => Volatile.Read(ref identified) == 2);
        Assert.DoesNotContain(EchoHandler.Protocol, client.Host.PeerStore.GetProtocols(server.Host.PeerId));

        // The server must know the client speaks identify push before pushing to it.
        await WaitUntil(() => server.Host.PeerStore.GetProtocols(client.Host.PeerId).Contains(IdentifyProtocol.PushId));
        using var registration = server.Host.AddHandler(new EchoHandler());
        await WaitUntil(() => client.Host.PeerStore.GetProtocols(server.Host.PeerId).Contains(EchoHandler.Protocol));
    }

    [Fact]
    public async Task Malformed_identify_messages_are_refused_with_a_typed_error()
    {
        var pipe = new System.IO.Pipelines.Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x05, 0xff, 0xff, 0xff, 0xff, 0xff });
        await pipe.Writer.CompleteAsync();
        await Assert.ThrowsAsync<IdentifyException>(() => IdentifyProtocol.ReadAsync(pipe.Reader, 8192, CancellationToken.None).AsTask());

        var oversized = new System.IO.Pipelines.Pipe();
        await oversized.Writer.WriteAsync(new byte[] { 0x80, 0x80, 0x04 }); // 65536 bytes announced
        await oversized.Writer.CompleteAsync();
        await Assert.ThrowsAsync<IdentifyException>(() => IdentifyProtocol.ReadAsync(oversized.Reader, 8192, CancellationToken.None).AsTask());

        var empty = new System.IO.Pipelines.Pipe();
        await empty.Writer.CompleteAsync();
        await Assert.ThrowsAsync<IdentifyException>(() => IdentifyProtocol.ReadAsync(empty.Reader, 8192, CancellationToken.None).AsTask());
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(50);
        }
    }
}
