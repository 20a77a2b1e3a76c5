using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Privacy.Padding;
using P2PStack.Testing;
using P2PStack.Protocols.Ping;

namespace P2PStack.Privacy.Onion.Tests.OnTheWire;

/// <summary>
/// Cover cells on circuit links, on real sockets: with the padding policy's cover traffic on, an idle circuit carries
/// one cell per interval of the configured rate (lowered to the budget) on every link in both directions; each is a
/// whole cell in a muxer frame of its own, like a one-cell message; the last hop drops the client's and the client
/// drops the last hop's, and both count them; the relays in between cannot tell them from data. The onion module's
/// clock is a manual one, so the test counts cells per interval without depending on the machine's speed.
/// </summary>
public class CoverCellTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;
    private const int CellSize = 514;

    [Fact]
    public async Task An_idle_circuit_carries_cover_cells_at_the_configured_rate_and_the_ends_drop_and_count_them()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        // 50 cells/s asked for, but the budget allows 10 cells of 514 bytes a second: one cell per 100 ms.
        var schedule = new CoverSchedule(CoverTraffic.Constant, 10);
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, listen: "/ip4/127.0.0.1/tcp/0",
            configureAll: p2p =>
            {
                p2p.AddSecuredConnectionFilter<CaptureFilter>();
                p2p.AddPadding(o =>
                {
                    o.Cover = CoverTraffic.Constant;
                    o.CoverRate = 50;
                    o.CoverBudgetBytesPerSecond = 10 * CellSize;
                });
                p2p.Services.AddSingleton<TimeProvider>(clock);
            });
        var client = network.Client;
        var hops = new[] { client }.Concat(network.Relays).ToList();
        // The circuit links are padded (the policy's default): padded connections with the capture filter above the
        // padding (so it records the muxer's frames) are reused by the links.
        for (int i = 0; i + 1 < hops.Count; i++)
            await hops[i].Host.DialAsync(hops[i + 1].Address, new DialOptions { Filters = [PaddingFilter.Id, CaptureFilter.Id] }, CancellationToken.None)
                .AsTask().WaitAsync(Patience);
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var info = await client.Client.BuildCircuitAsync(new CircuitRequest { Pinned = path, Hops = 3 }, CancellationToken.None)
            .WaitAsync(Patience);
        var circuit = client.Client.Find(info.Id)!;
        var first = network.Relays[0];
        var middle = network.Relays[1];
        var last = network.Relays[2];
        Assert.Equal(schedule.Interval, client.Client.Cover!.Interval);
        Assert.Equal(schedule.Interval, last.Relay.Cover!.Interval);

        var before = Enumerable.Range(0, 3).Select(i => OnionFrames(hops[i])).ToList();
        long relayedForward = middle.Get<OnionMetrics>().RelayedCellsForward;
        const int rounds = 4;
        for (int round = 1; round <= rounds; round++)
        {
            clock.Advance(schedule.Interval);
            await WaitUntilAsync(() => last.Get<OnionMetrics>().CoverCellsDropped >= round && client.Get<OnionMetrics>().CoverCellsDropped >= round,
                $"round {round}: the last hop and the client to drop {round} cover cells each",
                () => $"the last hop dropped {last.Get<OnionMetrics>().CoverCellsDropped}, the client {client.Get<OnionMetrics>().CoverCellsDropped}");
        }

        // One cell per interval each way: the client's to the last hop, the last hop's back to the client.
        Assert.Equal(rounds, client.Get<OnionMetrics>().CoverCellsSent);
        Assert.Equal(rounds, last.Get<OnionMetrics>().CoverCellsDropped);
        Assert.Equal(rounds, last.Get<OnionMetrics>().CoverCellsSent);
        Assert.Equal(rounds, client.Get<OnionMetrics>().CoverCellsDropped);
        // The relays in between relay them as any cell: they neither recognise nor originate cover.
        foreach (var relay in new[] { first, middle })
        {
            Assert.Equal(0, relay.Get<OnionMetrics>().CoverCellsDropped);
            Assert.Equal(0, relay.Get<OnionMetrics>().CoverCellsSent);
        }
        // The middle counts a batch once it is out, which may be after the last hop dropped the cell: waited for, then
        // exact.
        await WaitUntilAsync(() => middle.Get<OnionMetrics>().RelayedCellsForward >= relayedForward + rounds,
            $"the middle relay to count {rounds} more cells relayed forward than the {relayedForward} before the rounds",
            () => $"{middle.Get<OnionMetrics>().RelayedCellsForward} relayed forward");
        Assert.Equal(relayedForward + rounds, middle.Get<OnionMetrics>().RelayedCellsForward);

        // On every link, each direction: exactly one new muxer frame per interval, each one whole RELAY cell.
        for (int i = 0; i < 3; i++)
        {
            var after = OnionFrames(hops[i]);
            foreach (var (was, now) in new[] { (before[i].Forward, after.Forward), (before[i].Backward, after.Backward) })
            {
                var added = now.Skip(was.Count).ToList();
                Assert.Equal(rounds, added.Count);
                Assert.All(added, frame =>
                {
                    Assert.Equal(CellSize, frame.Length);
                    Assert.Equal((byte)CellCommand.Relay, frame[0]);
                });
            }
        }

        // A busy interval carries no cover: the ping's cells were the link's traffic in it.
        var onion = await client.Client.ConnectAsync(network.Destination.PeerId, circuitId: info.Id).WaitAsync(Patience);
        await using (var ping = await onion.Connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            await client.Get<PingService>().PingAsync(ping, 1, CancellationToken.None).WaitAsync(Patience);
        long events = circuit.CoverEvents;
        long sent = client.Get<OnionMetrics>().CoverCellsSent;
        clock.Advance(schedule.Interval);
        await WaitUntilAsync(() => circuit.CoverEvents > events, $"the circuit's cover schedule to fire after the busy interval (it had fired {events} times)",
            () => $"{circuit.CoverEvents} cover events");
        Assert.Equal(sent, client.Get<OnionMetrics>().CoverCellsSent);
    }

    [Fact]
    public async Task Without_cover_or_with_circuit_links_unpadded_no_cover_cells_are_sent()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var network = await OnionTestNetwork.StartAsync(relays: 3, configureAll: p2p =>
        {
            p2p.AddPadding(o =>
            {
                o.Cover = CoverTraffic.Constant;
                o.OnCircuitLinks = false;
            });
            p2p.Services.AddSingleton<TimeProvider>(clock);
        });
        Assert.Null(network.Client.Client.Cover);
        Assert.All(network.Relays, r => Assert.Null(r.Relay.Cover));
        await using var plain = await OnionTestNetwork.StartAsync(relays: 1, configureAll: p2p => p2p.AddPadding());
        Assert.Null(plain.Client.Client.Cover); // cover traffic is off by default
        Assert.NotNull(plain.Client.Get<PaddingPolicy>());
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what, Func<string> state) => Waits.UntilAsync(condition, what, Patience, state);

    /// <summary>The onion stream's data frames on the link this node dialed: forward (sent) and backward (received).</summary>
    private static (List<byte[]> Forward, List<byte[]> Backward) OnionFrames(OnionNode dialer)
    {
        var capture = dialer.Get<CaptureFilter>().Captures.Single(c => c.Direction == Direction.Outbound);
        var sent = YamuxFrames.Parse(capture.Sent).Where(f => f.Type == 0 && f.Payload.Length > 0).ToList();
        uint stream = sent.GroupBy(f => f.StreamId).Single(g =>
        {
            var all = g.SelectMany(f => f.Payload).ToArray();
            int negotiation = YamuxFrames.NegotiationLength(all, OnionOptionsDefaults.ProtocolId);
            return System.Text.Encoding.ASCII.GetString(all, 0, negotiation).Contains(OnionOptionsDefaults.ProtocolId);
        }).Key;
        var received = YamuxFrames.Parse(capture.Received).Where(f => f.Type == 0 && f.Payload.Length > 0 && f.StreamId == stream);
        return ([.. sent.Where(f => f.StreamId == stream).Select(f => f.Payload)], [.. received.Select(f => f.Payload)]);
    }
}
