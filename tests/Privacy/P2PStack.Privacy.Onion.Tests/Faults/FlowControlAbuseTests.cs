using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Faults;

/// <summary>A hostile client that ignores SENDMEs: it sends DATA past the circuit or a stream window, or makes the exit
/// queue more than <see cref="OnionRelayOptions.MaxQueuedCellsPerCircuit"/> cells of data for one circuit. Each ends the
/// circuit with DESTROY and a count. The streams go to a destination that never answers (a TCP listener that accepts
/// and stays silent), so that the exit can hand nothing on and every cell stays queued.</summary>
public class FlowControlAbuseTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;
    private static readonly int DataPerCell = new OnionOptions().Layout.RelayDataCapacity;

    [Fact]
    public async Task Data_past_the_circuit_window_ends_the_circuit_with_protocol_and_a_count()
    {
        using var silent = new SilentListener();
        await using var network = await OnionTestNetwork.StartAsync(relays: 2, relayOptions: o => o.Relay.ConnectTimeout = Patience);
        var exit = network.Relays[1];
        var metrics = exit.Get<OnionMetrics>();
        var circuit = await BuildAsync(network);

        // Three streams of 400 cells each: within every stream window (500), past the circuit window (1000).
        int sent = await FloodAsync(circuit, silent, streams: 3, cellsPerStream: 400);
        Assert.Equal(DestroyReason.Protocol, await circuit.Completion.WaitAsync(Patience));
        Assert.InRange(sent, 1000, 1200);
        Assert.Equal(1, metrics.RelayRefusalsByReason.GetValueOrDefault("protocol"));
        Assert.Equal(1, metrics.DestroysSent.GetValueOrDefault("protocol"));
        Assert.False(metrics.RelayRefusalsByReason.ContainsKey("max_queued_cells"));
    }

    [Fact]
    public async Task Data_past_a_stream_window_ends_the_circuit_with_protocol_and_a_count()
    {
        using var silent = new SilentListener();
        await using var network = await OnionTestNetwork.StartAsync(relays: 1, relayOptions: o => o.Relay.ConnectTimeout = Patience);
        var metrics = network.Relays[0].Get<OnionMetrics>();
        var circuit = await BuildAsync(network);

        await FloodAsync(circuit, silent, streams: 1, cellsPerStream: new OnionOptions().FlowControl.StreamWindow + 1);
        Assert.Equal(DestroyReason.Protocol, await circuit.Completion.WaitAsync(Patience));
        Assert.Equal(1, metrics.RelayRefusalsByReason.GetValueOrDefault("protocol"));
    }

    [Fact]
    public async Task More_queued_cells_than_the_option_allows_end_the_circuit_with_resource_limit_and_a_count()
    {
        using var silent = new SilentListener();
        await using var network = await OnionTestNetwork.StartAsync(relays: 2, relayOptions: o =>
        {
            o.Relay.ConnectTimeout = Patience;
            o.Relay.MaxQueuedCellsPerCircuit = 300;
        });
        var exit = network.Relays[1];
        var metrics = exit.Get<OnionMetrics>();
        var circuit = await BuildAsync(network);

        // Two streams of 200 cells: within both windows, past the exit's queue limit (300).
        await FloodAsync(circuit, silent, streams: 2, cellsPerStream: 200);
        Assert.Equal(DestroyReason.ResourceLimit, await circuit.Completion.WaitAsync(Patience));
        Assert.Equal(1, metrics.RelayRefusalsByReason.GetValueOrDefault("max_queued_cells"));
        Assert.Equal(1, metrics.DestroysSent.GetValueOrDefault("resource_limit"));
        Assert.False(metrics.RelayRefusalsByReason.ContainsKey("protocol"));
        // The middle relay passed the DESTROY on; both relays let go of the circuit.
        await FaultTests.WaitUntilAsync(() => network.Relays.All(r => r.Relay.CircuitCount == 0));
    }

    [Fact]
    public async Task A_stream_that_ends_gives_its_queued_cells_back_to_the_circuit_window()
    {
        // The exit gives up on the silent destination after 1 s (END connect_failed): the cells queued for it no
        // longer count against the circuit, so three such streams of 450 cells (1350 in all) stay within the window.
        using var silent = new SilentListener();
        await using var network = await OnionTestNetwork.StartAsync(relays: 1, relayOptions: o => o.Relay.ConnectTimeout = TimeSpan.FromSeconds(1));
        var metrics = network.Relays[0].Get<OnionMetrics>();
        var circuit = await BuildAsync(network);
        for (int i = 0; i < 3; i++)
        {
            var stream = await OpenAsync(circuit, silent);
            await SendDataAsync(circuit, stream.Id, 450);
            var ended = await Assert.ThrowsAsync<OnionStreamException>(() => stream.Connected.WaitAsync(Patience));
            Assert.Equal(EndReason.ConnectFailed, ended.Reason);
        }
        Assert.False(circuit.IsClosed);
        Assert.False(metrics.RelayRefusalsByReason.ContainsKey("protocol"));
    }

    private static async Task<ClientCircuit> BuildAsync(OnionTestNetwork network) =>
        await network.Client.Client.GetCircuitAsync(new CircuitRequest { Pinned = [.. network.Relays.Select(r => r.PeerId)], Hops = network.Relays.Count },
            CancellationToken.None).WaitAsync(Patience);

    private static Task<ClientStream> OpenAsync(ClientCircuit circuit, SilentListener silent) =>
        circuit.OpenStreamAsync(silent.Peer, [silent.Address], Transport.OnionAddress.Listen, Transport.OnionAddress.For(silent.Peer), CancellationToken.None)
            .WaitAsync(Patience);

    // Opens the streams, then sends DATA on them in turn (ignoring every window) until each had its share or the
    // circuit ended; returns the cells sent.
    private static async Task<int> FloodAsync(ClientCircuit circuit, SilentListener silent, int streams, int cellsPerStream)
    {
        var ids = new List<ushort>();
        for (int i = 0; i < streams; i++) ids.Add((await OpenAsync(circuit, silent)).Id);
        int sent = 0;
        foreach (var id in ids)
        {
            int cells = await SendDataAsync(circuit, id, cellsPerStream);
            sent += cells;
            if (cells < cellsPerStream) break;
        }
        return sent;
    }

    // One DATA cell at a time, layered for the exit as the client's streams send them (recording the tags that circuit
    // SENDMEs must carry), but without taking any window; stops when the circuit ends.
    private static async Task<int> SendDataAsync(ClientCircuit circuit, ushort stream, int cells)
    {
        var data = new byte[DataPerCell];
        for (int i = 0; i < cells; i++)
        {
            try
            {
                await circuit.SendDataAsync(stream, new System.Buffers.ReadOnlySequence<byte>(data), CancellationToken.None).WaitAsync(Patience);
            }
            catch (CircuitException)
            {
                return i;
            }
        }
        return cells;
    }

    /// <summary>A destination that accepts TCP connections on loopback and never says a word: a dial to it waits until
    /// the exit's connect timeout.</summary>
    private sealed class SilentListener : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _accepted = [];
        private readonly CancellationTokenSource _stop = new();

        public SilentListener()
        {
            _listener.Start();
            using var key = PrivateKey.Generate(KeyType.Ed25519);
            Peer = PeerId.FromPublicKey(key.PublicKey);
            Address = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{((IPEndPoint)_listener.LocalEndpoint).Port}");
            _ = AcceptAsync();
        }

        public PeerId Peer { get; }

        public Multiaddr Address { get; }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    lock (_accepted) _accepted.Add(socket);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // stopped
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_accepted)
            {
                foreach (var socket in _accepted) socket.Dispose();
            }
            _stop.Dispose();
        }
    }
}
