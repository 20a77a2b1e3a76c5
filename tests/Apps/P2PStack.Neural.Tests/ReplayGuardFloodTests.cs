using System.Net;
using P2PStack.Identity;

namespace P2PStack.Neural.Tests;

/// <summary>
/// The replay cache under a flood from free identities and many address blocks (issue 18, path 1, third round): a full
/// cache gives up the entry of the message created earliest and raises its watermark, so fresh messages always get in,
/// and a replay of a message whose entry went is refused as created at or before the watermark.
/// </summary>
public sealed class ReplayGuardFloodTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private static readonly AddressBlock Honest = AddressBlock.Of(IPAddress.Parse("203.0.113.20"));

    private static PeerId FreshPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    private static AddressBlock Block(int i) => AddressBlock.Of(IPAddress.Parse($"10.{i / 256}.{i % 256}.1"));

    [Fact]
    public void A_flood_from_many_blocks_and_fresh_keys_neither_keeps_out_a_fresh_message_nor_lets_a_replay_in()
    {
        var guard = new ReplayGuard(capacity: 40, perSourceCapacity: 5, new BlockRateLimiter(perSecond: 1, burst: 10, maxBlocks: 64));
        var honestSource = FreshPeer();
        var honestIds = Enumerable.Range(0, 5).Select(_ => NeuralMessageId.New()).ToList();
        foreach (var id in honestIds) Assert.Null(guard.TryAccept(honestSource, id, Honest, Now, Now.AddHours(1), Now));

        // 30 blocks, 10 fresh signers each, one message each, dated up to the clock skew ahead and living an hour.
        var flood = new List<(PeerId Source, NeuralMessageId Id, DateTimeOffset Created)>();
        for (int b = 0; b < 30; b++)
            for (int k = 0; k < 10; k++)
            {
                var message = (FreshPeer(), NeuralMessageId.New(), Now.AddMilliseconds(b * 10 + k));
                Assert.Null(guard.TryAccept(message.Item1, message.Item2, Block(b), message.Item3, Now.AddHours(1), Now.AddSeconds(1)));
                flood.Add(message);
            }
        Assert.Equal(40, guard.Count);
        Assert.Equal(300 + 5 - 40, guard.Evicted);

        // A fresh honest message gets in ...
        Assert.Null(guard.TryAccept(honestSource, NeuralMessageId.New(), Honest, Now.AddSeconds(2), Now.AddHours(1), Now.AddSeconds(2)));
        // ... and no replay does: of the honest messages and the early flood (entries gone, under the watermark), nor
        // of the latest flood (entries still there).
        foreach (var id in honestIds) Assert.Equal(DropReason.TooOld, guard.TryAccept(honestSource, id, Honest, Now, Now.AddHours(1), Now.AddSeconds(3)));
        Assert.Equal(DropReason.TooOld, guard.TryAccept(flood[0].Source, flood[0].Id, Block(99), flood[0].Created, Now.AddHours(1), Now.AddSeconds(3)));
        Assert.Equal(DropReason.Replay, guard.TryAccept(flood[^1].Source, flood[^1].Id, Block(99), flood[^1].Created, Now.AddHours(1), Now.AddSeconds(3)));
        int refused = flood.Count(m => guard.TryAccept(m.Source, m.Id, Honest, m.Created, Now.AddHours(1), Now.AddSeconds(3)) is DropReason.Replay or DropReason.TooOld);
        Assert.Equal(flood.Count, refused);
    }

    [Fact]
    public void No_message_is_accepted_twice_within_its_ttl_whatever_the_order()
    {
        var random = new Random(18);
        var guard = new ReplayGuard(capacity: 16, perSourceCapacity: 16, null);
        var sources = Enumerable.Range(0, 8).Select(_ => FreshPeer()).ToArray();
        var sent = new List<(PeerId Source, NeuralMessageId Id, DateTimeOffset Created, DateTimeOffset Expires)>();
        var accepted = new Dictionary<(PeerId, UInt128), DateTimeOffset>();
        var now = Now;
        for (int step = 0; step < 20_000; step++)
        {
            now = now.AddMilliseconds(random.Next(0, 50));
            (PeerId Source, NeuralMessageId Id, DateTimeOffset Created, DateTimeOffset Expires) message;
            if (sent.Count > 0 && random.Next(2) == 0)
            {
                message = sent[random.Next(Math.Max(0, sent.Count - 200), sent.Count)]; // a replay of a recent one
            }
            else
            {
                var created = now.AddMilliseconds(random.Next(-30_000, 30_000));
                message = (sources[random.Next(sources.Length)], NeuralMessageId.New(), created, created.AddSeconds(random.Next(1, 60)));
                sent.Add(message);
            }
            if (now >= message.Expires) continue; // the TTL check refuses it before the cache is asked
            if (guard.TryAccept(message.Source, message.Id, null, message.Created, message.Expires, now) is not null) continue;
            Assert.False(accepted.ContainsKey((message.Source, message.Id.Value)), $"accepted twice at step {step}");
            accepted[(message.Source, message.Id.Value)] = now;
        }
        Assert.True(guard.Evicted > 0);
    }

    /// <summary>The bound of docs/specs/neural.md, step 9: the watermark passes a time t only after more than the
    /// capacity's entries were taken since t minus the clock skew, which the blocks' rates bound. Attacker blocks take
    /// every token they get with messages dated the whole skew ahead; an honest sender whose clock is 30 s behind sends
    /// once a second.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(10)]
    public void A_flood_at_the_allowed_rates_raises_the_watermark_no_further_than_the_bound(int blocks)
    {
        const int capacity = 1_000, burst = 20;
        const double rate = 10;
        var skew = TimeSpan.FromSeconds(30);
        var behind = TimeSpan.FromSeconds(30);
        var guard = new ReplayGuard(capacity, capacity, new BlockRateLimiter(rate, burst, maxBlocks: 64));
        var keys = Enumerable.Range(0, 40).Select(_ => FreshPeer()).ToArray();
        var honestSource = FreshPeer();
        int honestRefused = 0, honestSent = 0;
        var now = Now;
        for (int step = 0; step < 3_000; step++) // five minutes in steps of 100 ms
        {
            now = now.AddMilliseconds(100);
            for (int b = 0; b < blocks; b++)
                while (guard.TryAccept(keys[(step + b) % keys.Length], NeuralMessageId.New(), Block(b), now + skew, now + skew + TimeSpan.FromHours(1), now) is null)
                {
                }
            if (step % 10 == 0)
            {
                honestSent++;
                if (guard.TryAccept(honestSource, NeuralMessageId.New(), Honest, now - behind, now - behind + TimeSpan.FromMinutes(1), now) is not null)
                    honestRefused++;
            }
            // Entries taken within any window of w seconds: at most blocks * (burst + rate * w), plus the honest ones.
            double bound = (now + skew - TimeSpan.FromSeconds((capacity + 1 - honestSent - blocks * burst) / (blocks * rate))).ToUnixTimeMilliseconds();
            Assert.True(guard.Watermark.ToUnixTimeMilliseconds() <= bound, $"watermark {guard.Watermark:O} past the bound at step {step}");
        }
        // Below the bound's threshold (blocks * (burst + rate * (skew + behind)) < capacity) no honest message is refused.
        if (blocks * (burst + rate * (skew + behind).TotalSeconds) + honestSent < capacity) Assert.Equal(0, honestRefused);
        else Assert.True(honestRefused > 0, "the flood is past the threshold: the watermark reaches the honest clock");
    }
}
