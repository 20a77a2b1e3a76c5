using P2PStack.Privacy.Onion.Client;

namespace P2PStack.Privacy.Onion.Tests.Circuits;

/// <summary>A close that meets the circuit's own end: both sides end it at once.</summary>
public class CircuitCloseTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    /// <summary>
    /// The close claims the circuit, then waits for the link to send its DESTROY (here a writer holds the link, as one
    /// waiting for the muxer's flow control would). Meanwhile the first relay ends the circuit: the client's reader
    /// sees the relay's DESTROY and ends too. The close then waits for the reader; the reader must not wait for the
    /// close (it did: CloseCircuitAsync never returned, seen on TCP loopback when the relay's reset of the link came
    /// back before the close had cancelled the reader).
    /// </summary>
    [Fact]
    public async Task A_close_returns_when_the_relay_ends_the_circuit_while_the_close_is_under_way()
    {
        // No preemptive circuits: the circuit under test is the client's only one (the DESTROY count below is its own).
        var network = await OnionTestNetwork.StartAsync(relays: 3, clientOptions: o =>
        {
            o.TeardownTimeout = Patience;
            o.Client.PreemptiveCircuits = 0;
        });
        try
        {
            await CloseWhileTheRelayEndsTheCircuitAsync(network);
        }
        finally
        {
            // Bounded: with the bug, the client's own teardown waits on the same stuck close.
            await network.DisposeAsync().AsTask().WaitAsync(Patience).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        }
    }

    private static async Task CloseWhileTheRelayEndsTheCircuitAsync(OnionTestNetwork network)
    {
        var client = network.Client;
        var info = await client.Client.BuildCircuitAsync(new CircuitRequest { Hops = 1 }, CancellationToken.None).WaitAsync(Patience);
        var circuit = client.Client.Find(info.Id);
        Assert.NotNull(circuit);
        var metrics = client.Get<OnionMetrics>();

        await circuit.Link.LockAsync(CancellationToken.None).WaitAsync(Patience);
        Task<bool> closing;
        try
        {
            closing = client.Client.CloseCircuitAsync(info.Id, CancellationToken.None);
            Assert.False(closing.IsCompleted); // the close has claimed the circuit and waits for the link
            await network.RelayOf(info.Relays[0]).Relay.StopAsync().WaitAsync(Patience);
            await Faults.FaultTests.WaitUntilAsync(() => metrics.DestroysReceived.GetValueOrDefault("hibernating") == 1);
        }
        finally
        {
            circuit.Link.Unlock();
        }

        Assert.True(await closing.WaitAsync(Patience));
        Assert.Equal(DestroyReason.Requested, await circuit.Completion.WaitAsync(Patience));
        Assert.DoesNotContain(client.Client.Circuits, c => c.Id == info.Id);
    }

    /// <summary>
    /// A normal close ends every part of the circuit without an exception: each relay's forward loop returns with the
    /// DESTROY it read, its backward loop's read is cancelled (not its token), and the client's reader likewise. Before,
    /// every relay ended each circuit on a thrown <c>CircuitEndedException</c> and an <c>OperationCanceledException</c>
    /// (3 % of a relay's CPU in the loopback benchmark's builds); each reached the relay's failure path, which the seam
    /// reports.
    /// </summary>
    [Fact]
    public async Task A_requested_close_ends_the_circuit_at_every_hop_without_a_failure()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, clientOptions: o => o.Client.PreemptiveCircuits = 0);
        var failures = new List<Exception>();
        void Record(Exception e)
        {
            lock (failures) failures.Add(e);
        }
        foreach (var relay in network.Relays) relay.Relay.CircuitFailure = Record;
        var client = network.Client.Client;
        client.CircuitFailure = Record;
        var info = await client.BuildCircuitAsync(new CircuitRequest { Pinned = [.. network.Relays.Select(r => r.PeerId)], Hops = 3 },
            CancellationToken.None).WaitAsync(Patience);
        var circuit = client.Find(info.Id);
        Assert.NotNull(circuit);

        Assert.True(await client.CloseCircuitAsync(info.Id, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.Requested, await circuit.Completion.WaitAsync(Patience));
        await Faults.FaultTests.WaitUntilAsync(() => network.Relays.All(r => r.Relay.CircuitCount == 0));
        foreach (var relay in network.Relays)
            Assert.Equal(1, relay.Get<OnionMetrics>().DestroysReceived.GetValueOrDefault("requested"));
        lock (failures) Assert.Empty(failures);
    }
}
