using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Protocols.Ping;

namespace P2PStack.Privacy.Onion.Tests.Faults;

/// <summary>Relays that die, drop or corrupt cells: circuits end cleanly with the right reason, streams fail and never
/// deliver damaged data, and the client builds a new circuit.</summary>
public class FaultTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task A_relay_that_dies_mid_circuit_ends_the_connection_cleanly_and_a_new_circuit_replaces_it()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 4);
        var client = network.Client;
        var path = network.Relays.Take(3).Select(r => r.PeerId).ToList();
        var first = await client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 }).WaitAsync(Patience);
        await PingAsync(client, first.Connection);
        // A stream open across the death: its reader waits for data that will never come.
        var open = await first.Connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience);
        var reading = Task.Run(async () =>
        {
            while (true)
            {
                var result = await open.Input.ReadAsync();
                open.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) throw new EndOfStreamException("the stream ended without an error");
            }
        });

        // The middle relay dies.
        await network.RelayOf(path[1]).DisposeAsync();
        await first.Connection.Completion.WaitAsync(Patience);
        // The open stream fails (an I/O error, not a clean end that could pass for the peer's), instead of hanging.
        var failed = await Record.ExceptionAsync(() => reading.WaitAsync(Patience));
        Assert.IsAssignableFrom<IOException>(failed);
        Assert.IsNotType<EndOfStreamException>(failed);
        await open.DisposeAsync();
        await WaitUntilAsync(() => client.Client.Circuits.All(c => c.Id != first.Circuit.Id));
        var stream = await Record.ExceptionAsync(() => first.Connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask());
        Assert.NotNull(stream);

        // A new connection: the dead relay is still in the directory; if the path takes it, the build replaces it.
        var second = await client.Client.ConnectAsync(network.Destination.PeerId).WaitAsync(Patience);
        Assert.DoesNotContain(path[1], second.Circuit.Relays);
        await PingAsync(client, second.Connection);
    }

    [Theory]
    [InlineData("corrupt-forward")]
    [InlineData("drop-forward")]
    [InlineData("corrupt-backward")]
    public async Task A_relay_that_drops_or_corrupts_cells_gets_the_circuit_destroyed_for_integrity(string fault)
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3,
            destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol));
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var middle = network.RelayOf(path[1]);
        int cellSize = new OnionOptions().CellSize;
        bool armed = false;
        bool done = false;
        // The middle relay's view of its link from the first relay: once armed, one relay cell is changed or lost.
        bool Tamper(int index, byte[] cell)
        {
            if (!armed || done || cell[0] != (byte)CellCommand.Relay) return true;
            done = true;
            if (fault.StartsWith("drop", StringComparison.Ordinal)) return false;
            cell[100] ^= 0x20;
            return true;
        }
        middle.Relay.LinkInterceptor = stream => fault.EndsWith("backward", StringComparison.Ordinal)
            ? new TamperingStream(stream, cellSize, null, Tamper)
            : new TamperingStream(stream, cellSize, Tamper, null);
        var exitMetrics = network.RelayOf(path[2]).Get<OnionMetrics>();
        var clientMetrics = network.Client.Get<OnionMetrics>();

        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(Patience);
        await using var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience);
        armed = true;
        var payload = new byte[50_000];
        new Random(2).NextBytes(payload);
        var failure = await Record.ExceptionAsync(async () =>
        {
            await echo.Output.WriteAsync(payload);
            await echo.Output.CompleteAsync();
            var received = new List<byte>();
            while (true)
            {
                var result = await echo.Input.ReadAsync();
                foreach (var segment in result.Buffer) received.AddRange(segment.ToArray());
                echo.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
            // Whatever arrived before the end is an intact prefix: nothing damaged is ever delivered.
            Assert.Equal(payload.Take(received.Count), received);
            throw new IOException("the stream ended");
        }).WaitAsync(Patience);
        Assert.NotNull(failure);
        await onion.Connection.Completion.WaitAsync(Patience);
        Assert.True(done);
        await WaitUntilAsync(() => network.Client.Client.Circuits.All(c => c.Id != onion.Circuit.Id));
        if (fault.EndsWith("backward", StringComparison.Ordinal))
            Assert.Contains("integrity", clientMetrics.BuildFailuresByReason.Keys.Concat(Destroys(network.Client)));
        else
            await WaitUntilAsync(() => exitMetrics.RelayRefusalsByReason.ContainsKey("integrity"));
    }

    private static IEnumerable<string> Destroys(OnionNode node) => node.Get<OnionMetrics>().DestroysSent.Keys;

    internal static async Task PingAsync(OnionNode client, IConnection connection)
    {
        await using var stream = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Single(await client.Get<PingService>().PingAsync(stream, 1, CancellationToken.None).WaitAsync(Patience));
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(20);
        }
    }
}
