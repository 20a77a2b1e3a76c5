using System.Collections.Concurrent;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Circuits;

/// <summary>How a relay moves the cells of one read of a link: in runs, each written into the outgoing link with one
/// commit (not one per cell), intact and in order, cells that the read buffer's segments split among them.</summary>
public class RelayCellRunTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task A_relay_commits_the_cells_of_a_read_to_the_outgoing_link_in_runs_intact_and_in_order()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol));
        var layout = new CellLayout(new OnionOptions().CellSize);
        var guard = network.Relays[0];
        var middle = network.Relays[1];
        var links = new ConcurrentQueue<HeldFlushStream>();
        guard.Relay.LinkInterceptor = stream =>
        {
            var held = new HeldFlushStream(stream, layout.CellSize);
            links.Enqueue(held);
            return held;
        };
        var info = await network.Client.Client.BuildCircuitAsync(new CircuitRequest
        {
            Pinned = [.. network.Relays.Select(r => r.PeerId)],
            Hops = 3,
            Destination = network.Destination.PeerId,
        }, CancellationToken.None).WaitAsync(Patience);
        var link = Assert.Single(links); // the guard's link from the client, which the guard's backward loop writes
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, circuitId: info.Id,
            cancellationToken: CancellationToken.None).WaitAsync(Patience);
        await using var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None).AsTask()
            .WaitAsync(Patience);
        int before = link.Commits.Count;

        // The guard's next write towards the client is held: what the circuit sends back meanwhile waits in the guard's
        // link from the middle, so that its next reads find many cells at once (over several of the read buffer's
        // segments, which then split some cells).
        link.HoldFirstFlushOf(1);
        var payload = new byte[256 * 1024];
        new Random(20).NextBytes(payload);
        var reading = ReadAllAsync(echo);
        var writing = WriteAllAsync(echo, payload);
        await link.Holding.WaitAsync(Patience);
        long guardBefore = guard.Get<OnionMetrics>().RelayedCellsBackward;
        await Faults.FaultTests.WaitUntilAsync(() => middle.Get<OnionMetrics>().RelayedCellsBackward >= guardBefore + 200);
        link.Release();
        await writing.WaitAsync(Patience);
        Assert.Equal(payload, await reading.WaitAsync(Patience));

        // A run with no relayed cell (a PADDING or DESTROY read alone) commits 0 cells, which lets go of the span it took.
        var commits = link.Commits.Skip(before).Where(cells => cells > 0).ToList();
        Assert.All(commits, cells => Assert.InRange(cells, 1, 65536 / layout.CellSize)); // never past one muxer frame
        // One commit per run: a read of many cells takes a few commits, not one per cell.
        Assert.True(commits.Max() >= 16, $"largest commit {commits.Max()} cells");
        Assert.True(commits.Count < commits.Sum(), $"{commits.Count} commits for {commits.Sum()} cells");
    }

    private static async Task<byte[]> ReadAllAsync(IStream stream)
    {
        using var received = new MemoryStream();
        while (true)
        {
            var result = await stream.Input.ReadAsync();
            foreach (var segment in result.Buffer) received.Write(segment.Span);
            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return received.ToArray();
        }
    }

    private static async Task WriteAllAsync(IStream stream, byte[] payload)
    {
        for (int i = 0; i < payload.Length; i += 16 * 1024) await stream.Output.WriteAsync(payload.AsMemory(i, 16 * 1024));
        await stream.Output.CompleteAsync();
    }
}
