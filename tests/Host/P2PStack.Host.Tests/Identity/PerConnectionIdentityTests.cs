using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests.Identity;

/// <summary>A dial under an ephemeral identity: the remote sees that identity and learns nothing that ties it to the
/// node (the base of anonymous circuits and shadow addresses).</summary>
public class PerConnectionIdentityTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_connection_with_an_ephemeral_identity_shows_only_that_identity()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        var clientEvents = new List<IConnection>();
        using var subscription = client.Host.Events.Subscribe<PeerConnected>(e => { lock (clientEvents) clientEvents.Add(e.Connection); });
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        var ephemeral = new LocalIdentity(key);

        var connection = await client.Host.DialAsync(server.Address, new DialOptions { Identity = ephemeral }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Equal(ephemeral.PeerId, connection.LocalPeer);
        Assert.Equal(key.PublicKey, connection.LocalPublicKey);
        Assert.NotEqual(client.Host.PeerId, ephemeral.PeerId);

        // The server sees the ephemeral peer, never the client's own id.
        var atServer = await WaitForAsync(() => server.Host.GetConnections(ephemeral.PeerId).SingleOrDefault());
        Assert.Equal(key.PublicKey, atServer.RemotePublicKey);
        Assert.Empty(server.Host.GetConnections(client.Host.PeerId));

        // Identify over it carries the ephemeral key and no address of any kind.
        var info = await server.Get<IdentifyService>().IdentifyAsync(atServer, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(ephemeral.PeerId, info.Peer);
        Assert.Equal(key.PublicKey, info.PublicKey);
        Assert.Empty(info.ListenAddresses);
        Assert.Null(info.ObservedAddress);
        Assert.Null(info.SignedPeerRecord);
        Assert.Contains(IdentifyProtocol.Id, info.Protocols);
        Assert.Empty(server.Host.PeerStore.GetAddresses(ephemeral.PeerId));

        // It is private to its dialer: not listed, no events, not reused by dials under the host's identity.
        Assert.Empty(client.Host.GetConnections());
        var own = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.NotSame(connection, own);
        Assert.Equal(client.Host.PeerId, own.LocalPeer);
        lock (clientEvents) Assert.Same(own, Assert.Single(clientEvents));
        // A dial with the same identity reuses it.
        Assert.Same(connection, await client.Host.DialAsync(server.Address, new DialOptions { Identity = ephemeral }, CancellationToken.None));
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
