using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Directory;

namespace P2PStack.Privacy.Onion.Tests.Client;

/// <summary>Path selection: distinct relays, never the destination or this node, exits that allow the destination,
/// /16 and /32 and family diversity (and the switch to turn it off), bandwidth weights.</summary>
public class PathSelectorTests
{
    private static readonly PeerId Self = NewPeer();

    [Fact]
    public void Paths_are_distinct_avoid_the_destination_and_end_at_an_exit_that_allows_it()
    {
        var destination = NewPeer();
        var relays = Enumerable.Range(0, 12).Select(i => Relay($"/ip4/{10 + i}.1.0.1/tcp/4001", exit: i % 3 == 0)).ToList();
        relays.Add(Relay("/ip4/99.1.0.1/tcp/4001", exit: true, peer: destination));
        relays.Add(Relay("/ip4/98.1.0.1/tcp/4001", exit: true, denied: destination));
        var selector = new PathSelector(new PathDiversityOptions());
        for (int i = 0; i < 200; i++)
        {
            var path = selector.Select(relays, 3, [], destination, Self, new HashSet<PeerId>());
            Assert.Equal(3, path.Select(r => r.Peer).Distinct().Count());
            Assert.DoesNotContain(path, r => r.Peer.Equals(destination));
            Assert.True(path[^1].AllowsExitTo(destination));
            Assert.False(path[^1].Addresses[0].ToString().StartsWith("/ip4/98.", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void No_two_relays_share_a_slash16_or_a_family_unless_diversity_is_off()
    {
        // Eight relays in two /16 networks, plus two of one family in other networks.
        var relays = new List<RelayInfo>();
        for (int i = 0; i < 4; i++) relays.Add(Relay($"/ip4/10.1.{i}.1/tcp/4001", exit: true));
        for (int i = 0; i < 4; i++) relays.Add(Relay($"/ip4/10.2.{i}.1/tcp/4001", exit: true));
        relays.Add(Relay("/ip4/20.1.0.1/tcp/4001", exit: true, family: "op"));
        relays.Add(Relay("/ip4/30.1.0.1/tcp/4001", exit: true, family: "op"));
        var on = new PathSelector(new PathDiversityOptions());
        for (int i = 0; i < 200; i++)
        {
            var path = on.Select(relays, 3, [], null, Self, new HashSet<PeerId>());
            var networks = path.Select(r => string.Join('.', r.Addresses[0].ToString().Split('/')[2].Split('.').Take(2))).ToList();
            Assert.Equal(3, networks.Distinct().Count());
            Assert.True(path.Count(r => r.Family == "op") <= 1);
        }
        // Four hops cannot be diverse here: two /16s and one family give at most three.
        Assert.Throws<NoPathException>(() => on.Select(relays, 4, [], null, Self, new HashSet<PeerId>()));
        // IPv6 /32.
        var six = new List<RelayInfo> { Relay("/ip6/2001:db8:1::1/tcp/1", exit: true), Relay("/ip6/2001:db8:2::1/tcp/1", exit: true) };
        Assert.Throws<NoPathException>(() => on.Select(six, 2, [], null, Self, new HashSet<PeerId>()));
        // With diversity off (a test network on one machine), any distinct relays do.
        var off = new PathSelector(new PathDiversityOptions { Enabled = false });
        Assert.Equal(8, off.Select(relays.Take(8).ToList(), 8, [], null, Self, new HashSet<PeerId>()).Select(r => r.Peer).Distinct().Count());
    }

    [Fact]
    public void Pinned_relays_keep_their_place_and_replacements_fit_the_path()
    {
        var relays = Enumerable.Range(0, 10).Select(i => Relay($"/ip4/{20 + i}.0.0.1/tcp/1", exit: true)).ToList();
        var selector = new PathSelector(new PathDiversityOptions());
        var path = selector.Select(relays, 3, [relays[4]], null, Self, new HashSet<PeerId>()).ToList();
        Assert.Equal(relays[4], path[0]);
        var excluded = new HashSet<PeerId> { path[1].Peer };
        var replacement = selector.Replace(relays, path, 1, null, Self, excluded);
        Assert.NotNull(replacement);
        Assert.DoesNotContain(replacement, path);
        Assert.Throws<NoPathException>(() => selector.Select(relays, 3, [relays[4]], relays[4].Peer, Self, new HashSet<PeerId>()));
    }

    [Fact]
    public void Relays_are_weighted_by_advertised_bandwidth()
    {
        var fast = Relay("/ip4/40.0.0.1/tcp/1", exit: true, bandwidth: 90L * 1024 * 1024);
        var slow = Relay("/ip4/50.0.0.1/tcp/1", exit: true, bandwidth: 10L * 1024 * 1024);
        var seeded = new Random(5);
        var selector = new PathSelector(new PathDiversityOptions(), seeded.Next);
        int fastCount = Enumerable.Range(0, 2000).Count(_ => selector.Select([fast, slow], 1, [], null, Self, new HashSet<PeerId>())[0] == fast);
        Assert.InRange(fastCount, 1700, 1900); // 90% expected
    }

    private static PeerId NewPeer()
    {
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        return PeerId.FromPublicKey(key.PublicKey);
    }

    private static RelayInfo Relay(string address, bool exit, PeerId? peer = null, PeerId? denied = null, string? family = null,
        long bandwidth = 1024 * 1024) => new()
    {
        Peer = peer ?? NewPeer(),
        Addresses = [Multiaddr.Parse(address)],
        OnionKey = new byte[1216],
        Bandwidth = bandwidth,
        MaxCircuits = 100,
        IsExit = exit,
        ExitAllowed = [],
        ExitDenied = denied is null ? [] : [denied],
        PublishedAt = DateTimeOffset.UtcNow,
        ExpiresAt = DateTimeOffset.UtcNow.AddHours(1),
        CellSize = 514,
        Protocol = "/synaptic/onion/1.0.0",
        Family = family,
    };
}
