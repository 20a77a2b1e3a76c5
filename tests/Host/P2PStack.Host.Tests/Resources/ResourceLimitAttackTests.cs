using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>
/// The resource manager wired into a real host (memory transport, Noise, yamux): peers with free identities stay
/// within the system and per-peer limits, refusals are typed and counted per scope, and usage returns to zero once
/// streams and connections close.
/// </summary>
public sealed class ResourceLimitAttackTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const int Window = 256 * 1024;

    [Fact]
    public async Task Peers_with_free_identities_cannot_exceed_the_system_inbound_connection_limit()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network,
            options: o => o.Resources.Limits = ResourceLimits.Unlimited with { System = new ResourceLimit { ConnectionsInbound = 4 } });
        var clients = new List<TestPeer>();
        try
        {
            // Each client is a new identity: per-peer limits do not stop them, the system limit does.
            int connected = 0, refused = 0;
            for (int i = 0; i < 8; i++)
            {
                var client = await TestPeer.StartAsync("/memory/0", network);
                clients.Add(client);
                try
                {
                    await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
                    connected++;
                }
                catch (Exception ex) when (ex is not TimeoutException)
                {
                    refused++;
                }
            }
            Assert.Equal(4, connected);
            Assert.Equal(4, refused);
            var system = server.Host.Resources.Snapshot().Single(s => s.Kind == "system");
            Assert.Equal(4, system.Usage.ConnectionsInbound);
            Assert.Equal(4, system.Refusals);
            // The dialer's upgrade ends before the listener's, which moves the connection into its peer's scope at
            // the end of its own: wait for the last one (a fifth would still fail this).
            await WaitUntilAsync(() => server.Host.Resources.Snapshot().Count(s => s.Kind == "peer") == 4);
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }

        // Every connection closed: nothing is left counted anywhere, and no peer scope lingers.
        await WaitUntilAsync(() => Held(server.Host.Resources).IsZero
            && server.Host.Resources.Snapshot().All(s => (s.Usage.IsZero || s.Name is PeerStoreScope or "system") && s.Kind != "peer"));
        Assert.Equal(0, server.Host.Resources.Transient.Usage.Connections);
    }

    [Fact]
    public async Task A_peer_cannot_open_more_inbound_streams_than_its_limit_and_they_release_on_close()
    {
        var network = new MemoryNetwork();
        var hold = new HoldHandler();
        await using var server = await TestPeer.StartAsync("/memory/0", network, p => p.Services.AddSingleton<IProtocolHandler>(hold),
            options: o => o.Resources.Limits = ResourceLimits.Unlimited with { Peer = new ResourceLimit { StreamsInbound = 3 } });
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var peer = client.Host.PeerId;
        await IdentifyDoneAsync(client, server, () => server.Host.Resources.Peer(peer)?.Usage.Streams == 0);

        var streams = new List<IStream>();
        for (int i = 0; i < 3; i++) streams.Add(await OpenHeldAsync(client, server));
        Assert.Equal(3, server.Host.Resources.Peer(peer)!.Usage.StreamsInbound);

        // The fourth is reset by the server before negotiation; the client's read fails with the reset.
        await using (var refused = await client.Host.OpenStreamAsync(server.Host.PeerId, [HoldHandler.Protocol], CancellationToken.None))
        {
            await refused.Output.WriteAsync(new byte[] { 1 });
            await Assert.ThrowsAnyAsync<IOException>(async () => await refused.Input.ReadAsync().AsTask().WaitAsync(Patience));
        }
        var stat = server.Host.Resources.Snapshot().Single(s => s.Name == $"peer {peer}");
        Assert.Equal(3, stat.Usage.StreamsInbound);
        Assert.Equal(1, stat.Refusals);
        Assert.Equal(3, server.Host.Resources.Snapshot().Single(s => s.Name == $"protocol {HoldHandler.Protocol}").Usage.StreamsInbound);

        // Streams closed: their slots come back and a new stream is served.
        foreach (var stream in streams) await stream.DisposeAsync();
        await WaitUntilAsync(() => server.Host.Resources.Peer(peer)?.Usage.Streams == 0);
        await (await OpenHeldAsync(client, server)).DisposeAsync();

        // Connection closed: the peer's scope is gone and the system holds nothing.
        await client.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None);
        await WaitUntilAsync(() => Held(server.Host.Resources).IsZero && server.Host.Resources.Peer(peer) is null);
    }

    [Fact]
    public async Task Opening_more_outbound_streams_than_the_peer_limit_throws_a_typed_error_naming_scope_and_limit()
    {
        var network = new MemoryNetwork();
        var hold = new HoldHandler();
        await using var server = await TestPeer.StartAsync("/memory/0", network, p => p.Services.AddSingleton<IProtocolHandler>(hold));
        await using var client = await TestPeer.StartAsync("/memory/0", network,
            options: o => o.Resources.Limits = ResourceLimits.Unlimited with { Peer = new ResourceLimit { StreamsOutbound = 2 } });
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await IdentifyDoneAsync(client, server, () => client.Host.Resources.Peer(server.Host.PeerId)?.Usage.Streams == 0);

        var first = await OpenHeldAsync(client, server);
        var second = await OpenHeldAsync(client, server);
        var refusal = await Assert.ThrowsAsync<ResourceLimitExceededException>(() =>
            client.Host.OpenStreamAsync(server.Host.PeerId, [HoldHandler.Protocol], CancellationToken.None).AsTask());
        Assert.Equal($"resource limit exceeded: peer {server.Host.PeerId} streams outbound 2/2 (+1)", refusal.Message);

        await first.DisposeAsync();
        await second.DisposeAsync();
        Assert.Equal(0, client.Host.Resources.Peer(server.Host.PeerId)!.Usage.Streams);
        await (await OpenHeldAsync(client, server)).DisposeAsync();
    }

    [Fact]
    public async Task Yamux_windows_are_reserved_in_the_connection_scope_and_a_full_scope_refuses_streams()
    {
        var network = new MemoryNetwork();
        var hold = new HoldHandler();
        await using var server = await TestPeer.StartAsync("/memory/0", network, p => p.Services.AddSingleton<IProtocolHandler>(hold),
            options: o => o.Resources.Limits = ResourceLimits.Unlimited with { Connection = new ResourceLimit { Memory = 3 * Window } });
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var peer = client.Host.PeerId;
        await IdentifyDoneAsync(client, server, () => server.Host.Resources.Peer(peer)?.Usage.Memory == 0);

        var streams = new List<IStream>();
        for (int i = 0; i < 3; i++) streams.Add(await OpenHeldAsync(client, server));
        Assert.Equal(3L * Window, server.Host.Resources.Peer(peer)!.Usage.Memory);
        Assert.Equal(3L * Window, Held(server.Host.Resources).Memory);
        Assert.Equal(3L * Window, Held(client.Host.Resources).Memory); // the client's windows, in its own manager

        // No room for a fourth window: yamux answers its SYN with RST.
        await using (var refused = await client.Host.OpenStreamAsync(server.Host.PeerId, [HoldHandler.Protocol], CancellationToken.None))
        {
            await refused.Output.WriteAsync(new byte[] { 1 });
            await Assert.ThrowsAnyAsync<IOException>(async () => await refused.Input.ReadAsync().AsTask().WaitAsync(Patience));
        }
        Assert.Equal(3L * Window, server.Host.Resources.Peer(peer)!.Usage.Memory);

        foreach (var stream in streams) await stream.DisposeAsync();
        await WaitUntilAsync(() => server.Host.Resources.Peer(peer)?.Usage.Memory == 0);
        await (await OpenHeldAsync(client, server)).DisposeAsync();
        await client.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None);
        await WaitUntilAsync(() => Held(server.Host.Resources).IsZero && Held(client.Host.Resources).IsZero);
    }

    /// <summary>Opens a stream to the hold handler and waits for its answer byte: the server runs it now.</summary>
    private static async Task<IStream> OpenHeldAsync(TestPeer client, TestPeer server)
    {
        var stream = await client.Host.OpenStreamAsync(server.Host.PeerId, [HoldHandler.Protocol], CancellationToken.None);
        await stream.Output.WriteAsync(new byte[] { 1 });
        var result = await stream.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.False(result.Buffer.IsEmpty);
        stream.Input.AdvanceTo(result.Buffer.End);
        return stream;
    }

    private const string PeerStoreScope = "service " + InMemoryPeerStore.ResourceService;

    /// <summary>What the system scope holds apart from the peer store, a cache that keeps peers after they disconnect.</summary>
    private static ResourceUsage Held(ResourceManager manager)
    {
        var usage = manager.System.Usage;
        return usage with { Memory = usage.Memory - manager.Service(InMemoryPeerStore.ResourceService).Usage.Memory };
    }

    /// <summary>Identify runs both ways on connect, each stream counted (and holding a window). A zero alone can be
    /// seen before identify's streams are opened or accepted, so first wait until each side has stored the other's
    /// answer (both streams were counted by then), then until <paramref name="idle"/>.</summary>
    private static Task IdentifyDoneAsync(TestPeer client, TestPeer server, Func<bool> idle) =>
        WaitUntilAsync(() => client.Host.PeerStore.GetProtocols(server.Host.PeerId).Contains(IdentifyProtocol.Id)
            && server.Host.PeerStore.GetProtocols(client.Host.PeerId).Contains(IdentifyProtocol.Id)
            && idle());

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the condition did not come true");
            await Task.Delay(20);
        }
    }

    /// <summary>Answers one byte, then holds the stream until the remote closes it.</summary>
    private sealed class HoldHandler : IProtocolHandler
    {
        public const string Protocol = "/test/hold/1.0.0";

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                var first = await stream.Input.ReadAsync(cancellationToken);
                stream.Input.AdvanceTo(first.Buffer.End);
                await stream.Output.WriteAsync(new byte[] { 1 }, cancellationToken);
                while (true)
                {
                    var result = await stream.Input.ReadAsync(cancellationToken);
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
            }
        }
    }
}
