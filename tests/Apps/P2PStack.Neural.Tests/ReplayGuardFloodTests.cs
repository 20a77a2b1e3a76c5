using System.Net;
using P2PStack.Identity;

namespace P2PStack.Neural.Tests;

/// <summary>
/// The replay cache under a flood from free identities (issue 18, path 1, second round): peer ids and signer keys cost
/// nothing, addresses do. Whatever number of identities one address block uses, it can push out only its own entries,
/// honest blocks keep theirs (replays of their messages stay refused for the whole TTL) and still get room.
/// </summary>
public sealed class ReplayGuardFloodTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);
    private static readonly AddressBlock Attacker = AddressBlock.Of(IPAddress.Parse("198.51.100.10"));
    private static readonly AddressBlock Honest = AddressBlock.Of(IPAddress.Parse("203.0.113.20"));

    private static PeerId FreshPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    [Fact]
    public void A_flood_of_fresh_identities_from_one_block_cannot_push_out_another_blocks_entries()
    {
        // The per-block share does not stop the flood here (it may take the whole cache): only the keying does.
        var guard = new ReplayGuard(capacity: 40, perSourceCapacity: 5, perBlockCapacity: 40);
        var honestSource = FreshPeer();
        var honestIds = Enumerable.Range(0, 5).Select(_ => NeuralMessageId.New()).ToList();
        foreach (var id in honestIds) Assert.Null(guard.TryAccept(honestSource, id, Honest, Now.AddHours(1), Now));

        // 200 fresh identities from the attacker's block, each signing one message (also one per fresh signer key).
        int accepted = 0, refused = 0;
        for (int i = 0; i < 200; i++)
        {
            var result = guard.TryAccept(FreshPeer(), NeuralMessageId.New(), Attacker, Now.AddMinutes(30), Now.AddSeconds(1));
            if (result is null) accepted++;
            else if (result == DropReason.ReplayCacheFull) refused++;
        }
        Assert.Equal(35, accepted);
        Assert.Equal(165, refused);

        // The honest block's entries are all there: a replay of any of its messages is still refused.
        foreach (var id in honestIds) Assert.Equal(DropReason.Replay, guard.TryAccept(honestSource, id, Honest, Now.AddHours(1), Now.AddSeconds(2)));
        // And it still gets room, taken from the flood (the entry of the attacker's that expires first).
        var another = FreshPeer();
        Assert.Null(guard.TryAccept(another, NeuralMessageId.New(), Honest, Now.AddHours(1), Now.AddSeconds(2)));
        Assert.Equal(40, guard.Count);
        Assert.Equal(1, guard.Evicted);
    }

    [Fact]
    public void Many_blocks_push_out_the_largest_first_and_an_honest_smaller_block_keeps_its_entries()
    {
        var guard = new ReplayGuard(capacity: 30, perSourceCapacity: 30, perBlockCapacity: 30);
        var honestSource = FreshPeer();
        var honestIds = Enumerable.Range(0, 3).Select(_ => NeuralMessageId.New()).ToList();
        foreach (var id in honestIds) Assert.Null(guard.TryAccept(honestSource, id, Honest, Now.AddHours(1), Now));

        // Five attacker blocks flood one after the other: the first fills the cache, the next ones push out the
        // largest block's entries only, until the shares are even, each still larger than the honest block's.
        var blocks = Enumerable.Range(1, 5).Select(i => AddressBlock.Of(IPAddress.Parse($"192.0.{i}.1"))).ToList();
        foreach (var block in blocks)
            for (int i = 0; i < 100; i++)
                guard.TryAccept(FreshPeer(), NeuralMessageId.New(), block, Now.AddMinutes(10 + i), Now.AddSeconds(1));
        Assert.Equal(30, guard.Count);
        Assert.True(guard.Evicted > 0);
        foreach (var id in honestIds) Assert.Equal(DropReason.Replay, guard.TryAccept(honestSource, id, Honest, Now.AddHours(1), Now.AddSeconds(2)));
    }

    [Fact]
    public void The_largest_block_has_its_own_messages_refused_and_evicted_entries_leave_the_expiry_queue_sound()
    {
        var guard = new ReplayGuard(capacity: 4, perSourceCapacity: 4, perBlockCapacity: 4);
        var source = FreshPeer();
        for (int i = 0; i < 4; i++) Assert.Null(guard.TryAccept(source, NeuralMessageId.New(), Attacker, Now.AddMinutes(1 + i), Now));
        // Full, and the attacker's block is the largest: its own next message is refused, nothing of its goes.
        Assert.Equal(DropReason.ReplayCacheFull, guard.TryAccept(FreshPeer(), NeuralMessageId.New(), Attacker, Now.AddMinutes(9), Now));
        // The honest block takes the place of the attacker's entry that expires first (one minute from now).
        var honestSource = FreshPeer();
        var honestId = NeuralMessageId.New();
        Assert.Null(guard.TryAccept(honestSource, honestId, Honest, Now.AddMinutes(30), Now));
        Assert.Equal(1, guard.Evicted);
        // The entries expire in order afterwards (the evicted one's queue item is skipped), the honest one last.
        Assert.Null(guard.TryAccept(FreshPeer(), NeuralMessageId.New(), null, Now.AddMinutes(40), Now.AddMinutes(10)));
        Assert.Equal(2, guard.Count);
        Assert.True(guard.Contains(honestSource, honestId, Now.AddMinutes(10)));
    }
}
