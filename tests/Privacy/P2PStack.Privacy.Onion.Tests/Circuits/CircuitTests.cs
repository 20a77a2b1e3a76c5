using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Protocols.Ping;

namespace P2PStack.Privacy.Onion.Tests.Circuits;

/// <summary>Circuits end to end on real hosts (memory transport): build, stream, ping, close.</summary>
public class CircuitTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    public async Task A_circuit_carries_an_end_to_end_connection_that_pings(int hops)
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: Math.Max(hops, 3));
        var circuit = await network.Client.Client.BuildCircuitAsync(new CircuitRequest { Hops = hops, Destination = network.Destination.PeerId },
            CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(hops, circuit.Relays.Count);
        Assert.Equal(hops, circuit.Relays.Distinct().Count());

        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, circuitId: circuit.Id,
            cancellationToken: CancellationToken.None).WaitAsync(Patience);
        var connection = onion.Connection;
        Assert.Equal(network.Destination.PeerId, connection.RemotePeer);
        Assert.NotEqual(network.Client.PeerId, connection.LocalPeer);
        Assert.Equal("onion", connection.Transport);
        Assert.False(connection.IsDirect);

        await using var stream = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience);
        var rtts = await network.Client.Get<PingService>().PingAsync(stream, 3, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(3, rtts.Count);

        Assert.True(await network.Client.Client.CloseCircuitAsync(circuit.Id));
        await connection.Completion.WaitAsync(Patience);
    }
}
