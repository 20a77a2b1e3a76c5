using P2PStack.Identity;

namespace P2PStack.Neural.Tests;

public class SchedulingTests
{
    [Fact]
    public void Higher_priorities_go_first_and_fifo_within_a_priority()
    {
        var scheduler = new StrideScheduler<(int Priority, int Seq)>();
        for (int i = 0; i < 20; i++)
        {
            scheduler.Enqueue((0, i), 0);
            scheduler.Enqueue((10, i), 10);
        }
        var order = new List<(int Priority, int Seq)>();
        while (scheduler.TryDequeue(out var item)) order.Add(item);
        Assert.Equal(40, order.Count);
        Assert.All(order.Take(20), item => Assert.Equal(10, item.Priority));
        Assert.Equal(Enumerable.Range(0, 20), order.Where(i => i.Priority == 0).Select(i => i.Seq));
        Assert.Equal(Enumerable.Range(0, 20), order.Where(i => i.Priority == 10).Select(i => i.Seq));
    }

    [Fact]
    public void Low_priorities_are_never_starved()
    {
        // Priority 10 never runs dry, yet priority 0 still gets a turn in every window of 122 sends: weights (p+1)².
        var scheduler = new StrideScheduler<int>();
        for (int i = 0; i < 5; i++) scheduler.Enqueue(0, 0);
        for (int i = 0; i < 200; i++) scheduler.Enqueue(10, 10);
        int sent = 0, lowSent = 0, lastLow = 0;
        while (lowSent < 5)
        {
            Assert.True(scheduler.TryDequeue(out int priority));
            sent++;
            if (priority == 10) scheduler.Enqueue(10, 10);
            else
            {
                Assert.InRange(sent - lastLow, 1, 122);
                lastLow = sent;
                lowSent++;
            }
        }
        Assert.InRange(sent, 5 * 100, 5 * 122);
    }

    [Fact]
    public void Shares_follow_the_weights_under_saturation()
    {
        var scheduler = new StrideScheduler<int>();
        for (int p = 0; p <= 10; p++) scheduler.Enqueue(p, p);
        var counts = new int[11];
        for (int i = 0; i < 50_000; i++)
        {
            Assert.True(scheduler.TryDequeue(out int p));
            counts[p]++;
            scheduler.Enqueue(p, p);
        }
        double total = Enumerable.Range(1, 11).Sum(w => (double)w * w);
        for (int p = 0; p <= 10; p++)
            Assert.InRange(counts[p], 50_000 * (p + 1) * (p + 1) / total * 0.95 - 2, 50_000 * (p + 1) * (p + 1) / total * 1.05 + 2);
    }

    [Fact]
    public void Replay_guard_accepts_once_until_expiry_and_stays_bounded()
    {
        var guard = new ReplayGuard(capacity: 2);
        var a = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var b = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var now = DateTimeOffset.UtcNow;
        var id = NeuralMessageId.New();
        Assert.Null(guard.TryAccept(a, id, null, now, now.AddSeconds(10), now));
        Assert.Equal(DropReason.Replay, guard.TryAccept(a, id, null, now, now.AddSeconds(10), now));
        Assert.True(guard.Contains(a, id, now));
        // The same id from another source is another message.
        Assert.Null(guard.TryAccept(b, id, null, now.AddMilliseconds(1), now.AddSeconds(10), now));
        // Full: a newer message still gets in, the earliest created goes and the watermark covers its replay.
        Assert.Null(guard.TryAccept(a, NeuralMessageId.New(), null, now.AddMilliseconds(2), now.AddSeconds(10), now));
        Assert.Equal(2, guard.Count);
        Assert.Equal(now, guard.Watermark);
        Assert.Equal(DropReason.TooOld, guard.TryAccept(a, id, null, now, now.AddSeconds(10), now));
        // After expiry the entries go (the TTL check refuses the message from then on).
        Assert.Null(guard.TryAccept(a, NeuralMessageId.New(), null, now.AddSeconds(11), now.AddSeconds(30), now.AddSeconds(11)));
        Assert.Equal(1, guard.Count);
    }

    [Fact]
    public void Replay_guard_limits_the_rate_per_address_block_and_reservations_are_released_or_kept()
    {
        var guard = new ReplayGuard(capacity: 100, perSourceCapacity: 100, new BlockRateLimiter(perSecond: 1, burst: 2, maxBlocks: 16));
        var via = AddressBlock.Of(System.Net.IPAddress.Parse("198.51.100.7"));
        var other = AddressBlock.Of(System.Net.IPAddress.Parse("203.0.113.7"));
        var now = DateTimeOffset.UtcNow;
        PeerId Source() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        // Two throwaway signers use up the burst of the block they came from; a third is refused, another block is not.
        Assert.Null(guard.TryAccept(Source(), NeuralMessageId.New(), via, now, now.AddMinutes(1), now));
        Assert.Null(guard.TryAccept(Source(), NeuralMessageId.New(), via, now, now.AddMinutes(1), now));
        Assert.Equal(DropReason.RateLimited, guard.TryAccept(Source(), NeuralMessageId.New(), via, now, now.AddMinutes(1), now));
        Assert.Null(guard.TryAccept(Source(), NeuralMessageId.New(), other, now, now.AddMinutes(1), now));
        // A second later the block has one more.
        Assert.Null(guard.TryAccept(Source(), NeuralMessageId.New(), via, now, now.AddMinutes(1), now.AddSeconds(1)));
        Assert.Equal(DropReason.RateLimited, guard.TryAccept(Source(), NeuralMessageId.New(), via, now, now.AddMinutes(1), now.AddSeconds(1)));
        // A released reservation frees its place and remembers nothing.
        var source = Source();
        var id = NeuralMessageId.New();
        Assert.Null(guard.TryReserve(source, id, null, now, now.AddMinutes(1), now));
        Assert.Equal(DropReason.Replay, guard.TryReserve(source, id, null, now, now.AddMinutes(1), now));
        guard.Release(source, id);
        Assert.False(guard.Contains(source, id, now));
        Assert.Equal(4, guard.Count);
        Assert.Null(guard.TryReserve(source, id, null, now, now.AddMinutes(1), now));
        guard.Commit(source, id);
        Assert.True(guard.Contains(source, id, now));
        // Entries still go at expiry.
        Assert.Null(guard.TryAccept(Source(), NeuralMessageId.New(), via, now.AddMinutes(2), now.AddMinutes(3), now.AddMinutes(2)));
        Assert.Equal(1, guard.Count);
    }

    [Fact]
    public void Address_blocks_are_the_ipv4_slash_24_and_the_ipv6_slash_48()
    {
        AddressBlock Of(string ip) => AddressBlock.Of(System.Net.IPAddress.Parse(ip));
        Assert.Equal(Of("198.51.100.1"), Of("198.51.100.254"));
        Assert.NotEqual(Of("198.51.100.1"), Of("198.51.101.1"));
        Assert.Equal(Of("198.51.100.1"), Of("::ffff:198.51.100.9"));
        Assert.Equal("198.51.100.0/24", Of("198.51.100.77").ToString());
        Assert.Equal(Of("2001:db8:1:1::1"), Of("2001:db8:1:ffff:1234::9"));
        Assert.NotEqual(Of("2001:db8:1::1"), Of("2001:db8:2::1"));
        Assert.Equal("2001:db8:1::/48", Of("2001:db8:1:1::1").ToString());
    }
}
