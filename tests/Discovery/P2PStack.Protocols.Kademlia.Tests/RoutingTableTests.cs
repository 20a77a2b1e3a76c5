using System.Net;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia.Tests;

public class RoutingTableTests
{
    private static readonly IPAddress[] NoIps = [];

    [Fact]
    public void SelfIsNeverAdded()
    {
        var local = TestPeers.Random();
        var table = new RoutingTable(local, 20);
        Assert.Equal(RoutingTableAddResult.Self, table.TryAdd(local, NoIps));
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void UnfoldsTheLastBucketWhenItOverflows()
    {
        var local = TestPeers.Random();
        var table = new RoutingTable(local, 4);
        // 4 far peers (cpl 0) fill the single bucket; a closer peer makes it split.
        for (int i = 0; i < 4; i++) Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 0), NoIps));
        Assert.Equal(1, table.BucketCount);
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 3), NoIps));
        Assert.Equal(2, table.BucketCount);
        Assert.Equal(4, table.GetBucket(0).Count);
        Assert.Single(table.GetBucket(1));
        // Bucket 0 is no longer the last: a fifth cpl-0 peer is refused.
        Assert.Equal(RoutingTableAddResult.BucketFull, table.TryAdd(TestPeers.WithCpl(local, 0), NoIps));
    }

    [Fact]
    public void EveryPeerSitsInTheBucketOfItsCommonPrefixLength()
    {
        var local = TestPeers.Random();
        var table = new RoutingTable(local, 20);
        var random = new Random(3);
        for (int i = 0; i < 2000; i++) table.TryAdd(TestPeers.Random(random), NoIps);
        // Also closer peers so that several buckets unfold.
        for (int cpl = 1; cpl < 10; cpl++)
            for (int i = 0; i < 25; i++) table.TryAdd(TestPeers.WithCpl(local, cpl), NoIps);
        int last = table.BucketCount - 1;
        Assert.True(last >= 8, $"only {table.BucketCount} buckets");
        for (int index = 0; index <= last; index++)
        {
            var bucket = table.GetBucket(index);
            Assert.True(bucket.Count <= 20);
            foreach (var entry in bucket)
            {
                int cpl = entry.Key.CommonPrefixLength(table.LocalKey);
                if (index < last) Assert.Equal(index, cpl);
                else Assert.True(cpl >= last);
            }
        }
        for (int cpl = 0; cpl < last; cpl++) Assert.Equal(20, table.GetBucket(cpl).Count);
    }

    [Fact]
    public void NearestPeersMatchesABruteForceSort()
    {
        var local = TestPeers.Random();
        var table = new RoutingTable(local, 20);
        var random = new Random(11);
        for (int i = 0; i < 500; i++) table.TryAdd(TestPeers.Random(random), NoIps);
        var all = table.GetPeers();
        for (int i = 0; i < 50; i++)
        {
            var target = KadKey.FromPeer(TestPeers.Random(random));
            var expected = all.OrderBy(p => KadKey.FromPeer(p).Xor(target), Comparer<KadKey>.Create((a, b) => a.CompareTo(b))).Take(20);
            Assert.Equal(expected, table.NearestPeers(target, 20));
        }
    }

    [Fact]
    public void RemovingFoldsEmptyTrailingBuckets()
    {
        var local = TestPeers.Random();
        var table = new RoutingTable(local, 2);
        var far = new[] { TestPeers.WithCpl(local, 0), TestPeers.WithCpl(local, 0) };
        foreach (var p in far) table.TryAdd(p, NoIps);
        var near = TestPeers.WithCpl(local, 5);
        table.TryAdd(near, NoIps);
        Assert.Equal(2, table.BucketCount);
        Assert.True(table.Remove(near));
        Assert.Equal(1, table.BucketCount);
        Assert.False(table.Remove(near));
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void MarkSeenMovesThePeerToTheTailOfItsBucket()
    {
        var local = TestPeers.Random();
        var table = new RoutingTable(local, 20);
        var peers = Enumerable.Range(0, 3).Select(_ => TestPeers.WithCpl(local, 0)).ToList();
        foreach (var p in peers) table.TryAdd(p, NoIps);
        Assert.Equal(RoutingTableAddResult.Updated, table.TryAdd(peers[0], NoIps));
        Assert.Equal([peers[1], peers[2], peers[0]], table.GetBucket(0).Select(e => e.Peer));
    }

    [Fact]
    public async Task AFullBucketEvictsItsLeastRecentlySeenPeerOnlyWhenItIsDead()
    {
        var local = TestPeers.Random();
        var dead = new HashSet<PeerId>();
        var checkedPeers = new List<PeerId>();
        var time = new ManualTime();
        var table = new RoutingTable(local, 2, livenessCheck: (peer, _) =>
        {
            checkedPeers.Add(peer);
            return Task.FromResult(!dead.Contains(peer));
        }, minLivenessCheckInterval: TimeSpan.FromMinutes(1), time: time);

        var oldest = TestPeers.WithCpl(local, 0);
        var newer = TestPeers.WithCpl(local, 0);
        await table.TryAddAsync(oldest, NoIps, default);
        await table.TryAddAsync(newer, NoIps, default);
        // Make bucket 0 a non-last bucket so it cannot split.
        await table.TryAddAsync(TestPeers.WithCpl(local, 4), NoIps, default);

        // Recently seen: no check, the newcomer is refused.
        Assert.Equal(RoutingTableAddResult.BucketFull, await table.TryAddAsync(TestPeers.WithCpl(local, 0), NoIps, default));
        Assert.Empty(checkedPeers);

        time.Advance(TimeSpan.FromMinutes(2));
        // Alive: kept (and now most recently seen), newcomer refused.
        Assert.Equal(RoutingTableAddResult.BucketFull, await table.TryAddAsync(TestPeers.WithCpl(local, 0), NoIps, default));
        Assert.Equal([oldest], checkedPeers);
        Assert.True(table.Contains(oldest));

        time.Advance(TimeSpan.FromMinutes(2));
        dead.Add(newer); // now the least recently seen
        var newcomer = TestPeers.WithCpl(local, 0);
        Assert.Equal(RoutingTableAddResult.Added, await table.TryAddAsync(newcomer, NoIps, default));
        Assert.False(table.Contains(newer));
        Assert.True(table.Contains(newcomer));
    }

    [Fact]
    public void DiversityFilterBoundsPeersPerIpGroup()
    {
        var local = TestPeers.Random();
        var table = new RoutingTable(local, 20, new DiversityOptions { MaxPeersPerGroupPerBucket = 2, MaxPeersPerGroup = 3 });
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 0), TestPeers.Ip("8.8.1.1")));
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 0), TestPeers.Ip("8.8.2.2")));
        Assert.Equal(RoutingTableAddResult.RejectedByDiversityFilter, table.TryAdd(TestPeers.WithCpl(local, 0), TestPeers.Ip("8.8.3.3")));
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 1), TestPeers.Ip("8.8.4.4")));
        Assert.Equal(RoutingTableAddResult.RejectedByDiversityFilter, table.TryAdd(TestPeers.WithCpl(local, 2), TestPeers.Ip("8.8.5.5")));
        // Another /16 is fine, and so are private addresses.
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 0), TestPeers.Ip("8.9.1.1")));
        for (int i = 0; i < 5; i++) Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 0), TestPeers.Ip("192.168.1.1")));
        // Removing a peer frees its slot.
        var first = table.GetBucket(0)[0].Peer;
        table.Remove(first);
        Assert.Equal(RoutingTableAddResult.Added, table.TryAdd(TestPeers.WithCpl(local, 0), TestPeers.Ip("8.8.9.9")));
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
