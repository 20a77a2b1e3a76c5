using P2PStack.Privacy.Onion.Client;

namespace P2PStack.Privacy.Onion.Tests.Faults;

/// <summary>An exception of no documented kind (here an <see cref="InvalidOperationException"/> while the link is open,
/// which a closed link never throws) is a bug: the relay ends the circuit with DESTROY internal, logged and counted once,
/// instead of reading it as the link gone and answering connect_failed.</summary>
public class InternalErrorTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    // The relay writes CREATED in three cells at the default cell size; the fourth cell is the first answer after it.
    private const int FirstCellAfterCreated = 4;

    [Fact]
    public async Task A_bug_in_an_exit_stream_ends_the_circuit_as_internal_not_connect_failed()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 1);
        var exit = network.Relays[0];
        var metrics = exit.Get<OnionMetrics>();
        FaultyWriteStream? link = null;
        exit.Relay.LinkInterceptor = stream => link = new FaultyWriteStream(stream, FirstCellAfterCreated);
        var circuit = await network.Client.Client.GetCircuitAsync(new CircuitRequest { Pinned = [exit.PeerId], Hops = 1 }, CancellationToken.None)
            .WaitAsync(Patience);
        var destination = network.Destination.PeerId;

        // CONNECTED is the exit stream's first cell: writing it throws.
        await using var stream = await circuit.OpenStreamAsync(destination, network.Client.Host.PeerStore.GetAddresses(destination),
            Transport.OnionAddress.Listen, Transport.OnionAddress.For(destination), CancellationToken.None);
        Assert.Equal(DestroyReason.Internal, await circuit.Completion.WaitAsync(Patience));
        Assert.True(link!.Thrown);
        Assert.Equal(1, metrics.RelayRefusalsByReason.GetValueOrDefault("internal"));
        Assert.Equal(1, metrics.DestroysSent.GetValueOrDefault("internal"));
        Assert.Equal(0, metrics.ExitStreamsByOutcome.GetValueOrDefault("failed"));
    }

    [Fact]
    public async Task A_bug_while_extending_ends_the_circuit_as_internal_not_connect_failed()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 2, clientOptions: o => o.Client.BuildRetries = 0);
        var first = network.Relays[0];
        var metrics = first.Get<OnionMetrics>();
        first.Relay.LinkInterceptor = stream => new FaultyWriteStream(stream, FirstCellAfterCreated);

        // EXTENDED is the first relay's first cell after CREATED: writing it throws.
        var failed = await Assert.ThrowsAsync<CircuitException>(() => network.Client.Client.BuildCircuitAsync(
            new CircuitRequest { Pinned = [.. network.Relays.Select(r => r.PeerId)], Hops = 2 }, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.Internal, failed.Reason);
        Assert.Equal(1, metrics.RelayRefusalsByReason.GetValueOrDefault("internal"));
        // The second relay was already the circuit's next hop: DESTROY went both ways.
        Assert.Equal(2, metrics.DestroysSent.GetValueOrDefault("internal"));
        await FaultTests.WaitUntilAsync(() => network.Relays[1].Get<OnionMetrics>().DestroysReceived.GetValueOrDefault("internal") == 1);
        await FaultTests.WaitUntilAsync(() => network.Relays.All(r => r.Relay.CircuitCount == 0));
    }

    [Fact]
    public async Task A_bug_reading_the_clients_link_ends_the_circuit_as_internal_not_link_closed()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 1);
        var relay = network.Relays[0];
        var client = network.Client.Client;
        FaultyReadStream? link = null;
        client.LinkInterceptor = stream => link = new FaultyReadStream(stream);
        var failures = new List<Exception>();
        client.CircuitFailure = e =>
        {
            lock (failures) failures.Add(e);
        };
        var circuit = await client.GetCircuitAsync(new CircuitRequest { Pinned = [relay.PeerId], Hops = 1 }, CancellationToken.None)
            .WaitAsync(Patience);
        var destination = network.Destination.PeerId;

        // The read that brings CONNECTED throws, while the link is open.
        link!.Arm();
        await using var stream = await circuit.OpenStreamAsync(destination, network.Client.Host.PeerStore.GetAddresses(destination),
            Transport.OnionAddress.Listen, Transport.OnionAddress.For(destination), CancellationToken.None);
        Assert.Equal(DestroyReason.Internal, await circuit.Completion.WaitAsync(Patience));
        Assert.True(link.Thrown);
        lock (failures) Assert.IsType<InvalidOperationException>(Assert.Single(failures));
        Assert.Equal(1, network.Client.Get<OnionMetrics>().DestroysSent.GetValueOrDefault("internal"));
        // The relay was told why and let the circuit go.
        await FaultTests.WaitUntilAsync(() => relay.Get<OnionMetrics>().DestroysReceived.GetValueOrDefault("internal") == 1);
        await FaultTests.WaitUntilAsync(() => relay.Relay.CircuitCount == 0);
    }
}
