using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

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

    [Theory]
    [InlineData(0)]
    [InlineData(20)] // the DROPs leave while cells of the connection's setup are still between the hops
    public async Task A_cell_for_a_hop_that_has_a_next_is_dropped_there_and_the_circuit_carries_on(int latencyMs)
    {
        // A relay with a next hop transforms each cell in the next link's buffer; one meant for itself (here a DROP) must
        // stay there uncommitted: were it forwarded, the next hop would find it meant for no hop and end the circuit.
        await using var network = await OnionTestNetwork.StartAsync(relays: 3,
            links: new MemoryLinkConditions { Latency = TimeSpan.FromMilliseconds(latencyMs) });
        RecordingObserver[] kept = [new(), new(), new()]; // the cells each hop kept (meant for it)
        for (int i = 0; i < 3; i++) network.Relays[i].Relay.Observer = kept[i];
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var info = await network.Client.Client.BuildCircuitAsync(new CircuitRequest { Pinned = path, Hops = 3, Destination = network.Destination.PeerId },
            CancellationToken.None).WaitAsync(Patience);
        var circuit = network.Client.Client.Find(info.Id)!;
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, circuitId: info.Id,
            cancellationToken: CancellationToken.None).WaitAsync(Patience);
        await using var stream = await onion.Connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience);
        var ping = network.Client.Get<PingService>();

        for (int round = 1; round <= 3; round++)
        {
            await circuit.SendMessageAsync(0, RelayCommand.Drop, 0, ReadOnlyMemory<byte>.Empty, early: false, CancellationToken.None).WaitAsync(Patience);
            await circuit.SendMessageAsync(1, RelayCommand.Drop, 0, ReadOnlyMemory<byte>.Empty, early: false, CancellationToken.None).WaitAsync(Patience);
        }
        Assert.Equal(3, (await ping.PingAsync(stream, 3, CancellationToken.None).WaitAsync(Patience)).Count);

        Assert.Equal(3, network.Relays[0].Get<OnionMetrics>().CoverCellsDropped);
        Assert.Equal(3, network.Relays[1].Get<OnionMetrics>().CoverCellsDropped);
        Assert.Equal(0, network.Relays[2].Get<OnionMetrics>().CoverCellsDropped);
        Assert.Equal(3, kept[0].CountRead(RelayCommand.Drop));
        Assert.Equal(3, kept[1].CountRead(RelayCommand.Drop));
        // The only circuit: each hop forwarded exactly the cells that a later hop kept (the exit keeps all it gets), so
        // none it kept itself, once all are counted (each batch once it is out). Counted over the circuit's life, not
        // from a mark taken mid-way: the end of the connection's setup is still crossing the hops when the stream opens,
        // and a cell the guard counted before such a mark and the middle after it would leave the counts off for good.
        long Forwarded(int relay) => network.Relays[relay].Get<OnionMetrics>().RelayedCellsForward;
        await Faults.FaultTests.WaitUntilAsync(() =>
            Forwarded(0) == kept[1].CountRead() + kept[2].CountRead() && Forwarded(1) == kept[2].CountRead());
        Assert.True(Forwarded(1) >= 3); // at least the pings
        Assert.False(circuit.IsClosed);
    }
}

/// <summary>Streams, policies, flow control and lifetimes over real circuits.</summary>
public class CircuitBehaviourTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task Megabytes_flow_both_ways_through_the_sendme_windows()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol));
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId).WaitAsync(Patience);
        var payload = new byte[3 * 1024 * 1024];
        new Random(9).NextBytes(payload);
        await using var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience);
        var reading = Task.Run(async () =>
        {
            using var received = new MemoryStream();
            while (true)
            {
                var result = await echo.Input.ReadAsync();
                foreach (var segment in result.Buffer) received.Write(segment.Span);
                echo.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) return received.ToArray();
            }
        });
        for (int i = 0; i < payload.Length; i += 64 * 1024) await echo.Output.WriteAsync(payload.AsMemory(i, 64 * 1024));
        await echo.Output.CompleteAsync();
        Assert.Equal(payload, await reading.WaitAsync(Patience));
        // Far more than one window of cells went each way: SENDMEs (authenticated at the circuit level) kept it going.
        var layout = new P2PStack.Privacy.Onion.Wire.CellLayout(new OnionOptions().CellSize);
        Assert.True(payload.Length / layout.RelayDataCapacity > 3 * new OnionOptions().FlowControl.CircuitWindow);
    }

    [Fact]
    public async Task The_exit_policy_and_a_destination_that_refuses_circuits_fail_the_dial_with_the_reason()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3);
        var path = network.Relays.Select(r => r.PeerId).ToList();
        // The exit changes its policy after the client read its descriptor: the exit still enforces it.
        network.Relays[2].Get<Microsoft.Extensions.Options.IOptions<OnionOptions>>().Value.Relay.ExitPolicy.DeniedPeers.Add(network.Destination.PeerId);
        var denied = await Record.ExceptionAsync(() => network.Client.Client.ConnectAsync(network.Destination.PeerId,
            new CircuitRequest { Pinned = path, Hops = 3 }).WaitAsync(Patience));
        Assert.Contains("policy", FullMessage(denied), StringComparison.OrdinalIgnoreCase);
        Assert.Single(network.Client.Client.Circuits); // the circuit itself is fine
        network.Relays[2].Get<Microsoft.Extensions.Options.IOptions<OnionOptions>>().Value.Relay.ExitPolicy.DeniedPeers.Clear();

        // A destination that does not accept circuit connections.
        await using var closed = await OnionNode.StartAsync("/memory/0", network.Network, o =>
        {
            o.AcceptCircuitConnections = false;
            o.EnableClient = false;
        });
        network.Client.Host.PeerStore.AddAddresses(closed.PeerId, [closed.Address.DecapsulateCode(Addressing.MultiaddrProtocols.P2P.Code)], TimeSpan.FromHours(1));
        // The destination's multistream "na" reaches the exit, which ends the stream (connect failed): the client gets
        // that reason as a typed error, not the end-to-end upgrade's timeout.
        var refused = await Assert.ThrowsAsync<OnionStreamException>(() => network.Client.Client.ConnectAsync(closed.PeerId).WaitAsync(Patience));
        Assert.Equal(EndReason.ConnectFailed, refused.Reason);
        Assert.Empty(network.Destination.Host.GetConnections(network.Client.PeerId));
    }

    [Fact]
    public async Task The_destination_serves_anonymous_clients_only_what_opts_in()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>());
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId).WaitAsync(Patience);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(async () =>
        {
            await using var stream = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol, "/nothing/1.0.0"], CancellationToken.None);
        });
        await Faults.FaultTests.PingAsync(network.Client, onion.Connection);
    }

    [Fact]
    public async Task Preemptive_circuits_are_kept_ready_used_then_retired_when_dirty()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, clientOptions: o =>
        {
            o.Client.PreemptiveCircuits = 1;
            o.Client.MaintenanceInterval = TimeSpan.FromMilliseconds(100);
            o.Client.MaxDirtiness = TimeSpan.FromSeconds(1);
            o.Client.CircuitLifetime = TimeSpan.FromSeconds(30);
        });
        var client = network.Client.Client;
        await Faults.FaultTests.WaitUntilAsync(() => client.Circuits.Count == 1);
        var ready = client.Circuits[0];
        var onion = await client.ConnectAsync(network.Destination.PeerId).WaitAsync(Patience);
        Assert.Equal(ready.Id, onion.Circuit.Id); // the preemptive circuit was used, not a new one
        // While its stream is open it stays; a clean one is built to replace it as the preemptive circuit.
        await Faults.FaultTests.WaitUntilAsync(() => client.Circuits.Count == 2);
        await onion.Connection.CloseAsync(CancellationToken.None);
        // Dirty and without streams: retired.
        await Faults.FaultTests.WaitUntilAsync(() => client.Circuits.All(c => c.Id != ready.Id));
        // New streams go to the clean circuit.
        var next = await client.ConnectAsync(network.Destination.PeerId).WaitAsync(Patience);
        Assert.NotEqual(ready.Id, next.Circuit.Id);
    }

    [Fact]
    public async Task Isolated_requests_use_only_circuits_of_their_key_and_close_with_it()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3);
        var client = network.Client.Client;
        var destination = network.Destination.PeerId;
        var shared = await client.ConnectAsync(destination).WaitAsync(Patience);
        object first = new(), second = new();

        var a1 = await client.ConnectAsync(destination, new CircuitRequest { Isolation = first }).WaitAsync(Patience);
        var a2 = await client.ConnectAsync(destination, new CircuitRequest { Isolation = first }).WaitAsync(Patience);
        var b = await client.ConnectAsync(destination, new CircuitRequest { Isolation = second }).WaitAsync(Patience);
        var other = await client.ConnectAsync(destination).WaitAsync(Patience);
        // One key's requests share its circuit (the one built when the transport reached it); neither key takes the shared
        // circuit, the other key's, nor lends its own to requests without a key.
        Assert.Equal(a1.Circuit.Id, a2.Circuit.Id);
        Assert.Equal(shared.Circuit.Id, other.Circuit.Id);
        Assert.Equal(3, new[] { shared.Circuit.Id, a1.Circuit.Id, b.Circuit.Id }.Distinct().Count());
        Assert.Equal(3, client.Circuits.Count);

        Assert.Equal(1, await client.CloseIsolatedAsync(first).WaitAsync(Patience));
        await a1.Connection.Completion.WaitAsync(Patience);
        await a2.Connection.Completion.WaitAsync(Patience);
        await Faults.FaultTests.WaitUntilAsync(() => client.Circuits.All(c => c.Id != a1.Circuit.Id));
        Assert.Equal(new[] { shared.Circuit.Id, b.Circuit.Id }.Order(StringComparer.Ordinal), client.Circuits.Select(c => c.Id).Order(StringComparer.Ordinal));
        Assert.False(b.Connection.Completion.IsCompleted);
        foreach (var c in new[] { shared, b, other }) await c.Connection.CloseAsync(CancellationToken.None);
    }

    private static string FullMessage(Exception? e)
    {
        var text = "";
        for (; e is not null; e = e.InnerException) text += e.Message + " | ";
        return text;
    }
}
