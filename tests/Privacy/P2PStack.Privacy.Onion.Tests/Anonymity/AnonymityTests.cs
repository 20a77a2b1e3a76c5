using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Ping;

namespace P2PStack.Privacy.Onion.Tests.Anonymity;

/// <summary>
/// What each node really sees of a circuit, from relays instrumented to log everything: each relay knows only its two
/// neighbours; only the exit learns the destination; the destination sees the exit's connection and an ephemeral peer
/// id, never the client's id or address.
/// </summary>
public class AnonymityTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task Each_relay_knows_only_its_neighbours_and_the_destination_never_learns_the_client()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, destination: p2p => p2p.AddProtocol<EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(EchoHandler.Protocol));
        var observers = network.Relays.ToDictionary(r => r.PeerId, r =>
        {
            var observer = new RecordingObserver();
            r.Relay.Observer = observer;
            return observer;
        });
        var client = network.Client;
        var destination = network.Destination;

        var onion = await client.Client.ConnectAsync(destination.PeerId, new CircuitRequest { Hops = 3 }).WaitAsync(Patience);
        var path = onion.Circuit.Relays;
        // Traffic both ways, with a marker the relays must not see in clear.
        var marker = System.Text.Encoding.ASCII.GetBytes("the-secret-payload-0123456789");
        await using (var echo = await onion.Connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience))
        {
            await echo.Output.WriteAsync(marker);
            await echo.Output.CompleteAsync();
            var back = await ReadAllAsync(echo.Input).WaitAsync(Patience);
            Assert.Equal(marker, back);
        }
        await using (var ping = await onion.Connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            await client.Get<PingService>().PingAsync(ping, 2, CancellationToken.None).WaitAsync(Patience);

        var first = observers[path[0]];
        var middle = observers[path[1]];
        var exit = observers[path[2]];
        // Neighbours only: the first relay knows the client and the middle; the middle, the first and the exit; the
        // exit, the middle and the destination.
        Assert.Equal([client.PeerId], first.Previous);
        Assert.Equal([path[1]], first.Next);
        Assert.Equal([path[0]], middle.Previous);
        Assert.Equal([path[2]], middle.Next);
        Assert.Equal([path[1]], exit.Previous);
        Assert.Empty(exit.Next);
        Assert.Empty(first.Destinations);
        Assert.Empty(middle.Destinations);
        Assert.Equal([destination.PeerId], exit.Destinations);

        // What the relays could read: the first only the EXTEND to the middle, the middle only the EXTEND to the exit;
        // nothing about streams. The exit reads BEGIN and DATA, but the DATA is end-to-end ciphertext.
        Assert.All(first.ReadCommands, c => Assert.Equal(RelayCommand.Extend, c));
        Assert.All(middle.ReadCommands, c => Assert.Equal(RelayCommand.Extend, c));
        Assert.Contains(RelayCommand.Begin, exit.ReadCommands);
        Assert.Contains(RelayCommand.Data, exit.ReadCommands);
        var destinationId = destination.PeerId.Bytes.ToArray();
        var clientId = client.PeerId.Bytes.ToArray();
        // A relay that logs every byte cannot name the destination unless it is the exit.
        Assert.False(first.SawBytes(destinationId));
        Assert.False(middle.SawBytes(destinationId));
        Assert.True(exit.SawBytes(destinationId));
        // Nobody beyond the first hop ever sees the client's id; no relay sees the payload in clear.
        Assert.False(middle.SawBytes(clientId));
        Assert.False(exit.SawBytes(clientId));
        foreach (var observer in observers.Values) Assert.False(observer.SawBytes(marker));
        // The first relay's view of the EXTEND names only the middle relay.
        Assert.False(first.SawBytes(path[2].Bytes.ToArray()));

        // The destination: a connection from an ephemeral peer through the exit, with no trace of the client.
        var atDestination = destination.Host.GetConnections().Single(c => c.RemotePeer.Equals(onion.Connection.LocalPeer));
        Assert.NotEqual(client.PeerId, atDestination.RemotePeer);
        Assert.True(atDestination.IsAnonymous);
        Assert.Equal(OnionAddress.InboundRemote(path[2]), atDestination.RemoteAddress);
        Assert.Empty(destination.Host.GetConnections(client.PeerId));
        Assert.Empty(destination.Host.PeerStore.GetAddresses(atDestination.RemotePeer));
        var info = await destination.Get<IdentifyService>().IdentifyAsync(atDestination, CancellationToken.None).WaitAsync(Patience);
        Assert.Empty(info.ListenAddresses);
        Assert.Null(info.SignedPeerRecord);
        Assert.Null(info.ObservedAddress);
        Assert.Equal([IdentifyProtocol.Id, IdentifyProtocol.PushId, PingProtocol.Id], info.Protocols.Order(StringComparer.Ordinal));
        // The client's addresses appear nowhere at the destination or the exit's connections.
        var clientAddresses = client.Host.ListenAddresses.Select(a => a.ToString()).ToList();
        Assert.DoesNotContain(destination.Host.GetConnections(), c => clientAddresses.Contains(c.RemoteAddress.ToString()));
        Assert.DoesNotContain(network.RelayOf(path[2]).Host.GetConnections(), c => c.RemotePeer.Equals(client.PeerId));
        Assert.DoesNotContain(network.RelayOf(path[1]).Host.GetConnections(), c => c.RemotePeer.Equals(client.PeerId));
    }

    [Fact]
    public async Task Each_connection_gets_its_own_ephemeral_identity()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3);
        var a = await network.Client.Client.ConnectAsync(network.Destination.PeerId).WaitAsync(Patience);
        var b = await network.Client.Client.ConnectAsync(network.Destination.PeerId).WaitAsync(Patience);
        Assert.NotEqual(a.Connection.LocalPeer, b.Connection.LocalPeer);
        Assert.NotEqual(network.Client.PeerId, a.Connection.LocalPeer);
        // The same clean circuit carries both (reuse before it is dirty).
        Assert.Equal(a.Circuit.Id, b.Circuit.Id);
        // Private to the client: not listed, not reused by ordinary dials.
        Assert.DoesNotContain(network.Client.Host.GetConnections(), c => c.RemotePeer.Equals(network.Destination.PeerId) && c.Transport == "onion");
    }

    private static async Task<byte[]> ReadAllAsync(System.IO.Pipelines.PipeReader reader)
    {
        var bytes = new List<byte>();
        while (true)
        {
            var result = await reader.ReadAsync();
            foreach (var segment in result.Buffer) bytes.AddRange(segment.ToArray());
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return [.. bytes];
        }
    }
}

/// <summary>Echoes every byte back until the remote half-closes, then half-closes.</summary>
public sealed class EchoHandler : IProtocolHandler
{
    public const string Protocol = "/test/echo/1.0.0";

    public IReadOnlyList<string> Protocols { get; } = [Protocol];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            await stream.Input.CopyToAsync(stream.Output, cancellationToken);
            await stream.Output.CompleteAsync();
        }
    }
}
