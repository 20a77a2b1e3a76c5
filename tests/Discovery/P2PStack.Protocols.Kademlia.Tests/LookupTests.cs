using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Lookup;

namespace P2PStack.Protocols.Kademlia.Tests;

public class LookupTests
{
    /// <summary>200 nodes, each with a real k-bucket table fed every other node: every lookup finds the true k closest.</summary>
    [Fact]
    public async Task EveryLookupInA200NodeNetworkFindsTheTargetAndTheTrueClosest()
    {
        var random = new Random(1234);
        var peers = Enumerable.Range(0, 200).Select(_ => TestPeers.Random(random)).ToList();
        var tables = peers.ToDictionary(p => p, p => new RoutingTable(p, 20));
        foreach (var (peer, table) in tables)
            foreach (var other in peers.OrderBy(_ => random.Next()))
                table.TryAdd(other, []);

        int queries = 0;
        LookupQuery query(KadKey target) => (peer, _) =>
        {
            Interlocked.Increment(ref queries);
            return Task.FromResult(tables[peer].NearestPeers(target, 20));
        };

        for (int i = 0; i < 100; i++)
        {
            var origin = peers[random.Next(peers.Count)];
            var targetPeer = peers[random.Next(peers.Count)];
            if (targetPeer == origin) continue;
            var target = KadKey.FromPeer(targetPeer);
            var result = await IterativeLookup.RunAsync(target, origin, tables[origin].NearestPeers(target, 20), query(target),
                new LookupParameters(20, 3, 3), null, default);
            Assert.Equal(targetPeer, result.ClosestPeers[0]);
            var trueClosest = peers.Where(p => p != origin).OrderBy(p => KadKey.FromPeer(p).Xor(target), Comparer<KadKey>.Create((a, b) => a.CompareTo(b))).Take(20);
            Assert.Equal(trueClosest, result.ClosestPeers);
        }
        Assert.True(queries < 100 * 60, $"{queries} queries for 100 lookups");
    }

    [Fact]
    public async Task UnreachablePeersAreSkippedAndAlphaIsNeverExceeded()
    {
        var random = new Random(99);
        var peers = Enumerable.Range(0, 100).Select(_ => TestPeers.Random(random)).ToList();
        var dead = peers.Where((_, i) => i % 4 == 0).ToHashSet();
        var target = KadKey.FromPeer(TestPeers.Random(random));
        int inFlight = 0, maxInFlight = 0;
        var result = await IterativeLookup.RunAsync(target, peers[1], peers.Take(10), async (peer, ct) =>
        {
            int now = Interlocked.Increment(ref inFlight);
            lock (peers) maxInFlight = Math.Max(maxInFlight, now);
            await Task.Delay(random.Next(1, 3), ct);
            Interlocked.Decrement(ref inFlight);
            if (dead.Contains(peer)) throw new IOException("unreachable");
            // Each peer knows a different three quarters of the network and answers its 40 closest to the target (a
            // quarter of them are dead, so 20 would not always reach the 20th closest live peer).
            int salt = peer.GetHashCode();
            return peers.Where(p => ((p.GetHashCode() ^ salt) & 3) != 0)
                .OrderBy(p => KadKey.FromPeer(p).Xor(target), Comparer<KadKey>.Create((a, b) => a.CompareTo(b))).Take(40).ToList();
        }, new LookupParameters(20, 3, 3), null, default);

        Assert.True(maxInFlight <= 3 + 20, $"{maxInFlight} queries at once"); // α in the main phase, then the follow-up
        Assert.DoesNotContain(result.ClosestPeers, dead.Contains);
        Assert.DoesNotContain(peers[1], result.ClosestPeers);
        var expected = peers.Where(p => !dead.Contains(p) && p != peers[1])
            .OrderBy(p => KadKey.FromPeer(p).Xor(target), Comparer<KadKey>.Create((a, b) => a.CompareTo(b))).Take(20);
        Assert.Equal(expected, result.ClosestPeers);
        Assert.True(result.Unreachable > 0);
    }

    [Fact]
    public async Task MainPhaseKeepsAtMostAlphaQueriesInFlight()
    {
        var random = new Random(5);
        var peers = Enumerable.Range(0, 60).Select(_ => TestPeers.Random(random)).ToList();
        int inFlight = 0, maxInFlight = 0;
        var target = KadKey.FromPeer(TestPeers.Random(random));
        // Beta = k: no follow-up phase, so only the main loop runs.
        await IterativeLookup.RunAsync(target, peers[0], peers.Take(20), async (peer, ct) =>
        {
            int now = Interlocked.Increment(ref inFlight);
            lock (peers) maxInFlight = Math.Max(maxInFlight, now);
            await Task.Delay(1, ct);
            Interlocked.Decrement(ref inFlight);
            return peers.Take(random.Next(60)).ToList();
        }, new LookupParameters(20, 2, 20), null, default);
        Assert.Equal(2, maxInFlight);
    }

    [Fact]
    public async Task StopConditionEndsTheLookupEarly()
    {
        var peers = Enumerable.Range(0, 50).Select(_ => TestPeers.Random()).ToList();
        int answered = 0;
        var result = await IterativeLookup.RunAsync(KadKey.FromPeer(peers[0]), TestPeers.Random(), peers.Take(5), (peer, _) =>
        {
            Interlocked.Increment(ref answered);
            return Task.FromResult<IReadOnlyList<PeerId>>(peers);
        }, new LookupParameters(20, 1, 20), () => answered >= 4, default);
        Assert.Equal(LookupTermination.Stopped, result.Termination);
        Assert.Equal(4, answered);
    }

    [Fact]
    public async Task AnEmptyOrDeadNetworkStarves()
    {
        var result = await IterativeLookup.RunAsync(KadKey.FromKey([1]), TestPeers.Random(), [TestPeers.Random(), TestPeers.Random()],
            (_, _) => throw new IOException("down"), new LookupParameters(20, 3, 3), null, default);
        Assert.Equal(LookupTermination.Starved, result.Termination);
        Assert.Empty(result.ClosestPeers);
        Assert.Equal(2, result.Unreachable);
    }

    [Fact]
    public async Task CancellationStopsTheLookup()
    {
        using var cts = new CancellationTokenSource(50);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => IterativeLookup.RunAsync(KadKey.FromKey([1]), TestPeers.Random(),
            [TestPeers.Random()], async (_, ct) => { await Task.Delay(Timeout.Infinite, ct); return []; }, new LookupParameters(20, 3, 3), null, cts.Token));
    }
}
