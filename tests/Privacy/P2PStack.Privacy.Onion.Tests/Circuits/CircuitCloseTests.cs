using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Testing;

namespace P2PStack.Privacy.Onion.Tests.Circuits;

/// <summary>A close that meets the circuit's own end: both sides end it at once.</summary>
public class CircuitCloseTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    /// <summary>
    /// The close claims the circuit, then waits for the link to send its DESTROY (here a writer holds the link, as one
    /// waiting for the muxer's flow control would). Meanwhile the first relay ends the circuit. The close must still
    /// return: it once never did, when the client's reader had seen the relay's DESTROY (or the relay's reset of the
    /// link) and ended too, and the reader waited for the close that waited for the reader. The close now cancels the
    /// reader's read first, so the reader ends on that, not on the relay's DESTROY.
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
            // The relay's DESTROY and its reset of the link come while the close waits. The close cancelled the
            // reader's read before it asked for the link (the reader no longer reads the relay's DESTROY: counted
            // below as not received); a reader already inside a batch that holds it would end on it and must not
            // wait for this close.
            await network.RelayOf(info.Relays[0]).Relay.StopAsync().WaitAsync(Patience);
        }
        finally
        {
            circuit.Link.Unlock();
        }

        Assert.True(await closing.WaitAsync(Patience));
        Assert.Equal(DestroyReason.Requested, await circuit.Completion.WaitAsync(Patience));
        Assert.DoesNotContain(client.Client.Circuits, c => c.Id == info.Id);
        Assert.Equal(0, metrics.DestroysReceived.GetValueOrDefault("hibernating"));
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

    /// <summary>
    /// The first relay answers a DESTROY by resetting the link's stream; here the client's close is held just after its
    /// DESTROY went out until the relay has ended the circuit and its reset has had time to come back. The client's
    /// reader must see the cancelled read of its own close, not the reset: the close cancelled the read only after the
    /// DESTROY, and a reset that came first failed the pending read with a <c>StreamResetException</c> (thrown and
    /// reported to the failure path; 21 per loopback benchmark run).
    /// </summary>
    [Fact]
    public async Task A_requested_close_cancels_the_read_before_the_relay_can_reset_the_link()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, clientOptions: o => o.Client.PreemptiveCircuits = 0);
        var failures = new List<Exception>();
        void Record(Exception e)
        {
            lock (failures) failures.Add(e);
        }
        var client = network.Client.Client;
        client.CircuitFailure = Record;
        var guard = network.Relays[0].Relay;
        HoldingLink? link = null;
        client.LinkInterceptor = stream => link = new HoldingLink(stream, async () =>
        {
            await Faults.FaultTests.WaitUntilAsync(() => guard.CircuitCount == 0);
            await Task.Delay(TimeSpan.FromMilliseconds(300)); // the guard's reset travels back to the client's reader
        });
        var info = await client.BuildCircuitAsync(new CircuitRequest { Pinned = [.. network.Relays.Select(r => r.PeerId)], Hops = 3 },
            CancellationToken.None).WaitAsync(Patience);
        var circuit = client.Find(info.Id);
        Assert.NotNull(circuit);
        Assert.NotNull(link);

        link.Armed = true; // the next flush is the close's DESTROY
        Assert.True(await client.CloseCircuitAsync(info.Id, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.Requested, await circuit.Completion.WaitAsync(Patience));
        Assert.True(link.Held);
        lock (failures) Assert.Empty(failures);
    }

    /// <summary>A client's link whose first flush once <see cref="Armed"/> is held, after it went out, until
    /// <paramref name="hold"/> completes.</summary>
    private sealed class HoldingLink(IStream inner, Func<Task> hold) : IStream
    {
        private readonly HoldingWriter _output = new(inner.Output, hold);

        public bool Armed { set => _output.Armed = value; }

        public bool Held => _output.Held;

        public PipeReader Input => inner.Input;

        public PipeWriter Output => _output;

        public string Protocol => inner.Protocol;

        public IConnection Connection => inner.Connection;

        public Direction Direction => inner.Direction;

        public void Reset() => inner.Reset();

        public bool TryReadInline() => inner.TryReadInline();

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        private sealed class HoldingWriter(PipeWriter inner, Func<Task> hold) : DelegatingPipeWriter(inner)
        {
            public volatile bool Armed;

            public volatile bool Held;

            public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            {
                var result = await Inner.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (Armed && !Held)
                {
                    Held = true;
                    await hold().ConfigureAwait(false);
                }
                return result;
            }
        }
    }
}
