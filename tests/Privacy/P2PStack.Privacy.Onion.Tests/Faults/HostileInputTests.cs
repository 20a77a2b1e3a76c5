using System.Buffers.Binary;
using Google.Protobuf;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Faults;

/// <summary>A peer that speaks the relay protocol badly: malformed and oversized cells and messages end in DESTROY with a
/// reason and a count, never a crash or a hang; limits refuse with DESTROY (resource limit) and a count.</summary>
public class HostileInputTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;
    private static readonly int CellSize = new OnionOptions().CellSize;

    [Fact]
    public async Task Malformed_cells_before_and_after_the_handshake_end_in_destroy_with_a_reason()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 1);
        var relay = network.Relays[0];
        var metrics = relay.Get<OnionMetrics>();

        // An unknown command before CREATE.
        var cell = new byte[CellSize];
        cell[0] = 0x77;
        Assert.Equal(DestroyReason.Protocol, await SendAndReadDestroyAsync(network, relay, [cell]));
        // A relay cell before CREATE.
        cell[0] = (byte)CellCommand.Relay;
        Assert.Equal(DestroyReason.Protocol, await SendAndReadDestroyAsync(network, relay, [cell]));
        // An oversized handshake: CREATE announcing 60000 bytes.
        cell = new byte[CellSize];
        cell[0] = (byte)CellCommand.Create;
        BinaryPrimitives.WriteUInt16BigEndian(cell.AsSpan(1), 60000);
        Assert.Equal(DestroyReason.Protocol, await SendAndReadDestroyAsync(network, relay, [cell]));
        // A CREATE of the right size for an onion key the relay never had.
        var keys = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.Zero);
        var handshake = new OnionHandshake.Client(relay.PeerId.Bytes.Span, keys.Current.PublicKey);
        Assert.Equal(DestroyReason.UnknownOnionKey, await SendAndReadDestroyAsync(network, relay, CreateCells(handshake.Create)));

        // After a good handshake, a relay cell meant for no hop (this relay is the last): integrity.
        var good = new OnionHandshake.Client(relay.PeerId.Bytes.Span, relay.Relay.Keys.Current.PublicKey);
        var random = new byte[CellSize];
        new Random(1).NextBytes(random);
        random[0] = (byte)CellCommand.Relay;
        Assert.Equal(DestroyReason.Integrity, await SendAndReadDestroyAsync(network, relay, [.. CreateCells(good.Create), random], expectCreated: true));
        Assert.True(metrics.RelayRefusalsByReason.GetValueOrDefault("protocol") >= 3);
        Assert.True(metrics.RelayRefusalsByReason.GetValueOrDefault("integrity") >= 1);

        // A partial cell, then the stream ends: the relay lets go of the circuit.
        await using (var stream = await OpenLinkAsync(network, relay))
        {
            await stream.Output.WriteAsync(new byte[CellSize / 2]);
            await stream.Output.CompleteAsync();
        }
        await FaultTests.WaitUntilAsync(() => relay.Relay.CircuitCount == 0);
    }

    [Fact]
    public async Task Oversized_relay_messages_and_too_many_relay_early_cells_end_the_circuit()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 2);
        var client = network.Client.Client;
        var path = network.Relays.Select(r => r.PeerId).ToList();

        // A multi-cell message past the limit, to the last hop.
        var circuit = await client.GetCircuitAsync(new CircuitRequest { Pinned = path, Hops = 2 }, CancellationToken.None).WaitAsync(Patience);
        await circuit.SendMessageAsync(1, RelayCommand.Extend, 0, new byte[new OnionOptions().MaxRelayMessageSize + 1000], early: true, CancellationToken.None);
        Assert.Equal(DestroyReason.Protocol, await circuit.Completion.WaitAsync(Patience));

        // RELAY_EARLY past the per-circuit limit (EXTEND travels in them: the bound on circuit length).
        var second = await client.GetCircuitAsync(new CircuitRequest { Pinned = path, Hops = 2 }, CancellationToken.None).WaitAsync(Patience);
        int limit = new OnionOptions().Relay.MaxRelayEarlyCells;
        for (int i = 0; i <= limit && !second.IsClosed; i++)
        {
            try
            {
                await second.SendMessageAsync(0, RelayCommand.Drop, 0, ReadOnlyMemory<byte>.Empty, early: true, CancellationToken.None);
            }
            catch (CircuitException)
            {
                break;
            }
        }
        Assert.Equal(DestroyReason.Protocol, await second.Completion.WaitAsync(Patience));
    }

    [Fact]
    public async Task Circuit_and_build_rate_limits_refuse_with_destroy_and_a_count()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 1, relayOptions: o =>
        {
            o.Relay.MaxCircuitsPerPeer = 2;
            o.Relay.CreateBurstPerPeer = 3;
            o.Relay.CreatesPerSecondPerPeer = 0.001;
        }, clientOptions: o => o.Client.BuildRetries = 0);
        var client = network.Client.Client;
        var relay = network.Relays[0];
        var request = new CircuitRequest { Pinned = [relay.PeerId], Hops = 1 };
        var a = await client.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience);
        var b = await client.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience);
        var refused = await Assert.ThrowsAsync<CircuitException>(() => client.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.ResourceLimit, refused.Reason);
        Assert.Equal(1, relay.Get<OnionMetrics>().RelayRefusalsByReason["max_circuits_per_peer"]);
        // One circuit less: the per-peer limit allows another, but the CREATE burst (3) is spent.
        await client.CloseCircuitAsync(a.Id);
        await FaultTests.WaitUntilAsync(() => relay.Relay.CircuitCount == 1);
        refused = await Assert.ThrowsAsync<CircuitException>(() => client.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.ResourceLimit, refused.Reason);
        Assert.Equal(1, relay.Get<OnionMetrics>().RelayRefusalsByReason["create_rate"]);
        Assert.Contains(b.Id, client.Circuits.Select(c => c.Id));
    }

    [Fact]
    public async Task The_relay_wide_circuit_limit_refuses_with_destroy_and_a_count_and_admits_again_after_a_close()
    {
        // Two clients (two previous-hop peers), so that the per-peer limit (default 256) and the CREATE rate (burst 64)
        // stay far away: only MaxCircuits can refuse.
        await using var network = await OnionTestNetwork.StartAsync(relays: 1, clients: 2, relayOptions: o => o.Relay.MaxCircuits = 2,
            clientOptions: o => o.Client.BuildRetries = 0);
        var relay = network.Relays[0];
        var metrics = relay.Get<OnionMetrics>();
        var request = new CircuitRequest { Pinned = [relay.PeerId], Hops = 1 };
        var (first, second) = (network.Clients[0].Client, network.Clients[1].Client);
        var a = await first.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience);
        await second.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(2, relay.Relay.CircuitCount);

        // A third circuit, from either peer: DESTROY resource_limit, counted as max_circuits and as a destroy sent.
        var refused = await Assert.ThrowsAsync<CircuitException>(() => second.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.ResourceLimit, refused.Reason);
        refused = await Assert.ThrowsAsync<CircuitException>(() => first.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.ResourceLimit, refused.Reason);
        Assert.Equal(2, metrics.RelayRefusalsByReason.GetValueOrDefault("max_circuits"));
        Assert.Equal(2, metrics.DestroysSent.GetValueOrDefault("resource_limit"));
        Assert.False(metrics.RelayRefusalsByReason.ContainsKey("max_circuits_per_peer"));
        Assert.False(metrics.RelayRefusalsByReason.ContainsKey("create_rate"));
        Assert.Equal(2, relay.Relay.CircuitCount);

        // One circuit closes: the relay admits the next CREATE, then is full again.
        Assert.True(await first.CloseCircuitAsync(a.Id));
        await FaultTests.WaitUntilAsync(() => relay.Relay.CircuitCount == 1);
        await second.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(2, relay.Relay.CircuitCount);
        Assert.Equal(2, metrics.RelayRefusalsByReason.GetValueOrDefault("max_circuits"));
        refused = await Assert.ThrowsAsync<CircuitException>(() => first.BuildCircuitAsync(request, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(DestroyReason.ResourceLimit, refused.Reason);
        Assert.Equal(3, metrics.RelayRefusalsByReason.GetValueOrDefault("max_circuits"));
    }

    [Fact]
    public async Task A_circuit_that_ends_while_registering_leaves_no_unobserved_task_exception()
    {
        // Found by the onion-client fuzz target: the registration's pending task, faulted by the circuit's end, was left
        // unobserved when WhenAny picked the circuit's Completion. The relay's answer is turned into a DESTROY of a
        // reason no other test sends (its label: "unknown"), so that only this circuit's end can match.
        await using var network = await OnionTestNetwork.StartAsync(relays: 1);
        var relay = network.Relays[0];
        int cellSize = new OnionOptions().CellSize;
        relay.Relay.LinkInterceptor = stream => new TamperingStream(stream, cellSize, null, (_, cell) =>
        {
            if (cell[0] != (byte)CellCommand.Relay) return true;
            Array.Clear(cell);
            cell[0] = (byte)CellCommand.Destroy;
            cell[1] = 200;
            return true;
        });
        Assert.Empty(await UnobservedAfterAsync(() => RegisterUntilDestroyedAsync(network, relay), x => x.Message == "the circuit ended (unknown)"));
    }

    [Fact]
    public async Task A_stream_refused_before_connected_leaves_no_unobserved_task_exception()
    {
        // A dial whose exit ends the stream before CONNECTED faults the stream's Connected, which the dial never awaits
        // (it reads the refusal from EndedBy); IntroduceAsync, cancelled, stops awaiting it too. The fault must be
        // observed, not left to the finalizer. The exit's policy refuses the destination (END exit_policy).
        await using var network = await OnionTestNetwork.StartAsync(relays: 1);
        var exit = network.Relays[0];
        exit.Get<Microsoft.Extensions.Options.IOptions<OnionOptions>>().Value.Relay.ExitPolicy.DeniedPeers.Add(network.Destination.PeerId);
        Assert.Empty(await UnobservedAfterAsync(() => DialRefusedAsync(network, exit), x => x is OnionStreamException { Reason: EndReason.ExitPolicy }));
    }

    /// <summary>Runs <paramref name="attempt"/> five times, then collects garbage so that a faulted task nobody observed
    /// reaches <see cref="TaskScheduler.UnobservedTaskException"/>; returns those exceptions that match.</summary>
    private static async Task<List<Exception>> UnobservedAfterAsync(Func<Task> attempt, Func<Exception, bool> matches)
    {
        var unobserved = new List<Exception>();
        void Record(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            lock (unobserved) unobserved.AddRange(e.Exception.InnerExceptions.Where(matches));
        }
        TaskScheduler.UnobservedTaskException += Record;
        try
        {
            for (int i = 0; i < 5; i++) await attempt();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Record;
        }
        lock (unobserved) return [.. unobserved];
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task DialRefusedAsync(OnionTestNetwork network, OnionNode exit)
    {
        var refused = await Assert.ThrowsAsync<OnionStreamException>(() => network.Client.Client.ConnectAsync(network.Destination.PeerId,
            new CircuitRequest { Pinned = [exit.PeerId], Hops = 1, Isolation = new object() }).WaitAsync(Patience));
        Assert.Equal(EndReason.ExitPolicy, refused.Reason);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task RegisterUntilDestroyedAsync(OnionTestNetwork network, OnionNode relay)
    {
        var circuit = await network.Client.Client.GetCircuitAsync(new CircuitRequest { Pinned = [relay.PeerId], Hops = 1, Isolation = new object() },
            CancellationToken.None).WaitAsync(Patience);
        var ended = await Assert.ThrowsAsync<CircuitException>(() =>
            circuit.EstablishIntroductionAsync(new byte[Relay.IntroductionRegistry.AuthKeySize], _ => false, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal((DestroyReason)200, ended.Reason);
    }

    [Fact]
    public async Task A_stream_past_the_exits_limit_per_circuit_ends_with_resource_limit_and_a_count()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 1, relayOptions: o => o.Relay.MaxStreamsPerCircuit = 1);
        var relay = network.Relays[0];
        var metrics = relay.Get<OnionMetrics>();
        var circuit = await network.Client.Client.GetCircuitAsync(new CircuitRequest { Pinned = [relay.PeerId], Hops = 1 }, CancellationToken.None)
            .WaitAsync(Patience);
        var destination = network.Destination.PeerId;
        var addresses = network.Client.Host.PeerStore.GetAddresses(destination);
        var remote = Transport.OnionAddress.For(destination);
        await using var first = await circuit.OpenStreamAsync(destination, addresses, Transport.OnionAddress.Listen, remote, CancellationToken.None);
        await first.Connected.WaitAsync(Patience);

        // The circuit itself stays: only the stream is refused (END, not DESTROY), and the refusal is counted.
        await using var second = await circuit.OpenStreamAsync(destination, addresses, Transport.OnionAddress.Listen, remote, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<OnionStreamException>(() => second.Connected.WaitAsync(Patience));
        Assert.Equal(EndReason.ResourceLimit, refused.Reason);
        Assert.Equal(1, metrics.RelayRefusalsByReason.GetValueOrDefault("max_streams_per_circuit"));
        Assert.Equal(1, metrics.ExitStreamsByOutcome.GetValueOrDefault("limit"));
        Assert.Equal(1, metrics.ExitStreamsByOutcome.GetValueOrDefault("opened"));
        // An INTRODUCE on the full circuit is refused and counted the same way.
        await using var third = await circuit.OpenIntroductionAsync(new byte[Relay.IntroductionRegistry.AuthKeySize], Transport.OnionAddress.Listen,
            remote, CancellationToken.None);
        refused = await Assert.ThrowsAsync<OnionStreamException>(() => third.Connected.WaitAsync(Patience));
        Assert.Equal(EndReason.ResourceLimit, refused.Reason);
        Assert.Equal(2, metrics.RelayRefusalsByReason.GetValueOrDefault("max_streams_per_circuit"));
        Assert.Equal(1, metrics.IntroductionsByOutcome.GetValueOrDefault("limit"));
        Assert.False(circuit.IsClosed);
    }

    private static List<byte[]> CreateCells(byte[] create)
    {
        var layout = new CellLayout(CellSize);
        var cells = new List<byte[]>();
        for (int i = 0; i < layout.HandshakeCells(create.Length); i++)
        {
            var cell = new byte[CellSize];
            CellCodec.WriteHandshake(cell, layout, CellCommand.Create, create, i);
            cells.Add(cell);
        }
        return cells;
    }

    private static async Task<IStream> OpenLinkAsync(OnionTestNetwork network, OnionNode relay)
    {
        var connection = await network.Client.Host.DialAsync(relay.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        return await connection.OpenStreamAsync([new OnionOptions().ProtocolId], CancellationToken.None).AsTask().WaitAsync(Patience);
    }

    // Sends raw cells on a fresh link and returns the reason of the DESTROY that comes back (after CREATED cells when
    // the handshake was good).
    private static async Task<DestroyReason> SendAndReadDestroyAsync(OnionTestNetwork network, OnionNode relay, IEnumerable<byte[]> cells,
        bool expectCreated = false)
    {
        await using var stream = await OpenLinkAsync(network, relay);
        foreach (var cell in cells) await stream.Output.WriteAsync(cell);
        var cellBuffer = new byte[CellSize];
        while (true)
        {
            var result = await stream.Input.ReadAtLeastAsync(CellSize).AsTask().WaitAsync(Patience);
            if (result.Buffer.Length < CellSize) throw new IOException("the relay closed the link without DESTROY");
            System.Buffers.BuffersExtensions.CopyTo(result.Buffer.Slice(0, CellSize), cellBuffer);
            stream.Input.AdvanceTo(result.Buffer.GetPosition(CellSize));
            if (cellBuffer[0] == (byte)CellCommand.Created && expectCreated) continue;
            Assert.Equal((byte)CellCommand.Destroy, cellBuffer[0]);
            return (DestroyReason)cellBuffer[1];
        }
    }
}
