using P2PStack.Identity;

namespace P2PStack.Trust.Tests;

public sealed class TrustStoreTests
{
    private static PeerId NewPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    [Fact]
    public void Trust_revoke_and_list_persist_across_reopening()
    {
        string path = Path.Combine(Path.GetTempPath(), $"trust-{Guid.NewGuid():N}.db");
        try
        {
            var alice = NewPeer();
            var bob = NewPeer();
            using (var store = new TrustStore(new TrustOptions { DatabasePath = path }))
            {
                store.Trust(alice, "alice");
                store.Trust(bob, "bob");
                store.Revoke(bob, "key leaked");
            }
            using (var store = new TrustStore(new TrustOptions { DatabasePath = path }))
            {
                var trusted = Assert.Single(store.ListTrusted());
                Assert.Equal(alice, trusted.Peer);
                Assert.Equal("alice", trusted.Name);
                Assert.Equal(TrustMethod.Manual, trusted.Method);
                var revoked = Assert.Single(store.ListRevoked());
                Assert.Equal(bob, revoked.Peer);
                Assert.Equal("key leaked", revoked.Reason);
                Assert.False(store.IsTrusted(bob));

                store.Trust(bob); // trusting again lifts the revocation
                Assert.False(store.IsRevoked(bob));
                Assert.Equal("alice", store.Get(alice)!.Name);
            }
        }
        finally
        {
            foreach (var file in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(path) + "*")) File.Delete(file);
        }
    }

    [Fact]
    public void A_name_moves_to_the_peer_trusted_under_it_last()
    {
        using var store = new TrustStore(new TrustOptions());
        var first = NewPeer();
        var second = NewPeer();
        store.Trust(first, "laptop");
        store.Trust(second, "laptop");
        Assert.Equal(second, store.FindByName("laptop")!.Peer);
        Assert.Null(store.Get(first)!.Name);
    }

    [Fact]
    public void Tofu_trusts_the_first_key_and_refuses_another_under_the_same_name()
    {
        using var store = new TrustStore(new TrustOptions());
        var first = NewPeer();
        var impostor = NewPeer();
        Assert.Equal(TofuOutcome.TrustedNow, store.TrustOnFirstUse(first, "/ip4/10.0.0.1/tcp/4001", out _));
        Assert.Equal(TrustMethod.Tofu, store.Get(first)!.Method);
        Assert.Equal(TofuOutcome.AlreadyTrusted, store.TrustOnFirstUse(first, "/ip4/10.0.0.1/tcp/4001", out _));
        Assert.Equal(TofuOutcome.Conflict, store.TrustOnFirstUse(impostor, "/ip4/10.0.0.1/tcp/4001", out var known));
        Assert.Equal(first, known);
        Assert.False(store.IsTrusted(impostor));
    }

    [Fact]
    public void Post_quantum_history_is_bounded()
    {
        using var store = new TrustStore(new TrustOptions { MaxTrackedPeers = 3 });
        var peers = Enumerable.Range(0, 5).Select(_ => NewPeer()).ToList();
        foreach (var peer in peers) store.MarkPostQuantum(peer);
        Assert.Equal(3, peers.Count(store.HasUsedPostQuantum));
    }

    [Fact]
    public void Post_quantum_last_seen_is_refreshed_only_when_older_than_the_resolution()
    {
        var clock = new ManualClock();
        using var store = new TrustStore(new TrustOptions { MaxTrackedPeers = 2, PostQuantumSeenResolution = TimeSpan.FromMinutes(1) }, clock);
        var (a, b, c, d) = (NewPeer(), NewPeer(), NewPeer(), NewPeer());
        store.MarkPostQuantum(a);
        clock.Advance(TimeSpan.FromSeconds(1));
        store.MarkPostQuantum(b);
        clock.Advance(TimeSpan.FromSeconds(1));
        store.MarkPostQuantum(a); // within the resolution: a stays the least recently seen
        clock.Advance(TimeSpan.FromSeconds(1));
        store.MarkPostQuantum(c);
        Assert.False(store.HasUsedPostQuantum(a));
        Assert.True(store.HasUsedPostQuantum(b));
        Assert.True(store.HasUsedPostQuantum(c));

        clock.Advance(TimeSpan.FromMinutes(2));
        store.MarkPostQuantum(b); // older than the resolution: refreshed, so c is now the least recently seen
        clock.Advance(TimeSpan.FromSeconds(1));
        store.MarkPostQuantum(d);
        Assert.True(store.HasUsedPostQuantum(b));
        Assert.False(store.HasUsedPostQuantum(c));
        Assert.True(store.HasUsedPostQuantum(d));
    }

    [Fact]
    public void A_revocation_is_seen_at_once_whichever_store_on_the_file_writes_it()
    {
        string path = Path.Combine(Path.GetTempPath(), $"trust-{Guid.NewGuid():N}.db");
        try
        {
            var peer = NewPeer();
            using var node = new TrustStore(new TrustOptions { DatabasePath = path });
            using var cli = new TrustStore(new TrustOptions { DatabasePath = path }); // the command line, on the same file
            Assert.Null(node.GetRevocation(peer)); // remembered as not revoked

            cli.Revoke(peer, "stolen laptop");
            Assert.Equal("stolen laptop", node.GetRevocation(peer)?.Reason);
            Assert.True(node.IsRevoked(peer));

            cli.Trust(peer); // lifts it
            Assert.Null(node.GetRevocation(peer));

            node.Revoke(peer, "again"); // the store's own writes
            Assert.Equal("again", node.GetRevocation(peer)?.Reason);
            Assert.Equal("again", cli.GetRevocation(peer)?.Reason);
            node.Forget(peer);
            Assert.Null(node.GetRevocation(peer));
            Assert.Null(cli.GetRevocation(peer));
        }
        finally
        {
            foreach (var file in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(path) + "*")) File.Delete(file);
        }
    }

    [Fact]
    public void A_post_quantum_mark_removed_by_another_store_is_written_again()
    {
        string path = Path.Combine(Path.GetTempPath(), $"trust-{Guid.NewGuid():N}.db");
        try
        {
            var (a, b) = (NewPeer(), NewPeer());
            var clock = new ManualClock();
            using var node = new TrustStore(new TrustOptions { DatabasePath = path }, clock);
            node.MarkPostQuantum(a); // remembered: the next mark within the resolution writes nothing
            clock.Advance(TimeSpan.FromSeconds(1));
            using var other = new TrustStore(new TrustOptions { DatabasePath = path, MaxTrackedPeers = 1 }, clock);
            other.MarkPostQuantum(b); // over the other store's cap of 1: a, the least recently seen, is forgotten
            Assert.False(node.HasUsedPostQuantum(a));

            node.MarkPostQuantum(a); // the file changed elsewhere: not answered from memory
            Assert.True(node.HasUsedPostQuantum(a));
        }
        finally
        {
            foreach (var file in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(path) + "*")) File.Delete(file);
        }
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }

    [Fact]
    public void Names_with_control_characters_or_too_long_are_refused()
    {
        using var store = new TrustStore(new TrustOptions { MaxTextLength = 8 });
        Assert.Throws<ArgumentException>(() => store.Trust(NewPeer(), "a\u001b[2Jb"));
        Assert.Throws<ArgumentException>(() => store.Trust(NewPeer(), "much too long"));
    }

    [Fact]
    public void Config_peers_are_trusted_when_the_store_opens()
    {
        var peer = NewPeer();
        var options = new TrustOptions();
        options.TrustedPeers.Add((peer, "seed"));
        using var store = new TrustStore(options);
        Assert.Equal(TrustMethod.Config, store.Get(peer)!.Method);
    }

    [Fact]
    public void Levels_parse_from_their_names()
    {
        foreach (var level in Enum.GetValues<SecurityLevel>()) Assert.Equal(level, SecurityLevels.Parse(level.ToName()));
        Assert.Equal(SecurityLevel.Strict, SecurityLevels.Parse(" STRICT "));
        Assert.Throws<FormatException>(() => SecurityLevels.Parse("paranoid"));
    }
}
