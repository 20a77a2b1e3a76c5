using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Discovery;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Records;
using P2PStack.Trust;

namespace P2PStack.Discovery.SignedLan.Tests;

/// <summary>
/// Real hosts with the announcement service on real UDP sockets (loopback unicast, OS-picked ports: no multicast
/// group shared with other tests on the machine), and an attacker sending crafted datagrams.
/// </summary>
public sealed class SignedLanTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_genuine_announcement_is_used_and_the_peer_dialed()
    {
        await using var listener = await LanNode.StartAsync(SecurityLevel.Signed);
        await using var announcer = await LanNode.StartAsync(SecurityLevel.Signed, target: listener.Lan.LocalEndPoint);
        await announcer.Lan.AnnounceNowAsync(CancellationToken.None);
        await Eventually(() => listener.Host.GetConnections(announcer.Host.PeerId).Count > 0);
        Assert.True(listener.Lan.Counts[AnnouncementVerdict.Accepted] >= 1);
        Assert.Contains(listener.Discovered, d => d.Peer == announcer.Host.PeerId && d.Source == "lan");
    }

    [Fact]
    public async Task Forged_announcements_are_ignored_and_counted()
    {
        await using var node = await LanNode.StartAsync(SecurityLevel.Signed);
        using var victimKey = PrivateKey.Generate(KeyType.Ed25519);
        using var attackerKey = PrivateKey.Generate(KeyType.Ed25519);
        var victim = PeerId.FromPublicKey(victimKey.PublicKey);
        var evil = new[] { Multiaddr.Parse("/ip4/127.0.0.1/tcp/9") };
        var now = DateTimeOffset.UtcNow;

        // 1. A genuine announcement with one bit of the signature flipped.
        byte[] tampered = LanAnnouncement.Create(victimKey, evil, now);
        tampered[^1] ^= 0x01;
        // 2. The victim's record signed by the attacker's key.
        var record = new PeerRecord(victim, (ulong)(now.ToUnixTimeMilliseconds() * 1_000_000L), evil);
        byte[] wrongSigner = Frame(SignedEnvelope.Seal(PeerRecord.Domain, PeerRecord.PayloadType, record.ToProtobuf(), attackerKey).ToBytes());
        // 3. Signed by the victim for another purpose (another domain).
        byte[] wrongDomain = Frame(SignedEnvelope.Seal("some-other-domain", PeerRecord.PayloadType, record.ToProtobuf(), victimKey).ToBytes());
        // 4. Not an announcement at all.
        byte[] garbage = [.. "p2pLAN"u8, 1, 0xff, 0xff, 0xff];

        foreach (var datagram in new[] { tampered, wrongSigner, wrongDomain, garbage }) await SendAsync(node, datagram);
        await Eventually(() => Count(node, AnnouncementVerdict.Forged) == 4);
        Assert.Empty(node.Host.PeerStore.GetAddresses(victim));
        Assert.DoesNotContain(node.Discovered, d => d.Peer == victim);
    }

    [Fact]
    public async Task Replayed_and_stale_announcements_are_ignored_and_counted()
    {
        await using var node = await LanNode.StartAsync(SecurityLevel.Signed, dial: false);
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        var peer = PeerId.FromPublicKey(key.PublicKey);
        var first = new[] { Multiaddr.Parse("/ip4/127.0.0.1/tcp/1001") };
        var second = new[] { Multiaddr.Parse("/ip4/127.0.0.1/tcp/1002") };
        var now = DateTimeOffset.UtcNow;
        byte[] older = LanAnnouncement.Create(key, first, now);
        byte[] newer = LanAnnouncement.Create(key, second, now.AddSeconds(1));

        await SendAsync(node, older);
        await Eventually(() => Count(node, AnnouncementVerdict.Accepted) == 1);
        await SendAsync(node, newer);
        await Eventually(() => Count(node, AnnouncementVerdict.Accepted) == 2);
        await SendAsync(node, newer); // the same datagram again
        await SendAsync(node, older); // an earlier one, to roll the addresses back
        await Eventually(() => Count(node, AnnouncementVerdict.Replayed) == 2);

        using var otherKey = PrivateKey.Generate(KeyType.Ed25519);
        var other = PeerId.FromPublicKey(otherKey.PublicKey);
        await SendAsync(node, LanAnnouncement.Create(otherKey, first, now.AddMinutes(-10))); // old
        await SendAsync(node, LanAnnouncement.Create(otherKey, first, now.AddMinutes(10)));  // ahead of our clock
        await Eventually(() => Count(node, AnnouncementVerdict.Stale) == 2);

        Assert.Equal(2, node.Discovered.Count(d => d.Peer == peer));
        Assert.DoesNotContain(node.Discovered, d => d.Peer == other);
        Assert.Empty(node.Host.PeerStore.GetAddresses(other));
    }

    [Fact]
    public async Task Strict_level_ignores_valid_announcements_of_untrusted_peers()
    {
        await using var node = await LanNode.StartAsync(SecurityLevel.Strict, dial: false);
        using var strangerKey = PrivateKey.Generate(KeyType.Ed25519);
        using var friendKey = PrivateKey.Generate(KeyType.Ed25519);
        node.Services.GetRequiredService<TrustStore>().Trust(PeerId.FromPublicKey(friendKey.PublicKey), "friend");
        var addresses = new[] { Multiaddr.Parse("/ip4/127.0.0.1/tcp/1003") };
        await SendAsync(node, LanAnnouncement.Create(strangerKey, addresses, DateTimeOffset.UtcNow));
        await SendAsync(node, LanAnnouncement.Create(friendKey, addresses, DateTimeOffset.UtcNow));
        await Eventually(() => Count(node, AnnouncementVerdict.Refused) == 1 && Count(node, AnnouncementVerdict.Accepted) == 1);
        Assert.Single(node.Discovered);
        Assert.Equal(PeerId.FromPublicKey(friendKey.PublicKey), node.Discovered.Single().Peer);
    }

    [Fact]
    public void Own_announcements_and_oversized_datagrams_are_not_used()
    {
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        byte[] datagram = LanAnnouncement.Create(key, [Multiaddr.Parse("/ip4/127.0.0.1/tcp/1")], DateTimeOffset.UtcNow);
        Assert.Equal(AnnouncementVerdict.Accepted, LanAnnouncement.Verify(datagram, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(2), 2048, out _));
        Assert.Equal(AnnouncementVerdict.Malformed, LanAnnouncement.Verify(datagram, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(2), datagram.Length - 1, out _));
        byte[] otherVersion = (byte[])datagram.Clone();
        otherVersion[6] = 2;
        Assert.Equal(AnnouncementVerdict.Malformed, LanAnnouncement.Verify(otherVersion, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(2), 2048, out _));
    }

    private static long Count(LanNode node, AnnouncementVerdict verdict) => node.Lan.Counts.GetValueOrDefault(verdict);

    private static byte[] Frame(byte[] envelope) => [.. "p2pLAN"u8, LanAnnouncement.Version, .. envelope];

    private static async Task SendAsync(LanNode node, byte[] datagram)
    {
        using var attacker = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        await attacker.SendAsync(datagram, node.Lan.LocalEndPoint!);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(20);
        }
    }

    private sealed class LanNode : IAsyncDisposable
    {
        private readonly List<PeerDiscovered> _discovered = [];
        private readonly IDisposable _subscription;

        private LanNode(ServiceProvider services)
        {
            Services = services;
            Host = services.GetRequiredService<PeerHost>();
            Lan = services.GetRequiredService<LanAnnouncementService>();
            _subscription = Host.Events.Subscribe<PeerDiscovered>(d => { lock (_discovered) _discovered.Add(d); });
        }

        public ServiceProvider Services { get; }

        public PeerHost Host { get; }

        public LanAnnouncementService Lan { get; }

        public IReadOnlyList<PeerDiscovered> Discovered
        {
            get
            {
                lock (_discovered) return [.. _discovered];
            }
        }

        public static async Task<LanNode> StartAsync(SecurityLevel level, IPEndPoint? target = null, bool dial = true)
        {
            var services = new ServiceCollection();
            services.AddP2PStack(p2p => p2p.ListenOn("/ip4/127.0.0.1/tcp/0").AddTcpTransport().AddNoise().AddYamux()
                .AddTrust(o => o.Level = level)
                .AddSignedLanAnnouncements(o =>
                {
                    o.Multicast = false;
                    o.BindAddress = IPAddress.Loopback;
                    o.Port = 0;
                    o.IncludeLoopback = true;
                    o.DialDiscovered = dial;
                    o.Interval = TimeSpan.FromHours(1); // the tests announce explicitly
                    if (target is not null) o.Targets.Add(target);
                }));
            var node = new LanNode(services.BuildServiceProvider());
            await node.Host.StartAsync(CancellationToken.None);
            await node.Lan.StartAsync(CancellationToken.None);
            return node;
        }

        public async ValueTask DisposeAsync()
        {
            _subscription.Dispose();
            await Lan.DisposeAsync();
            await Host.DisposeAsync();
            await Services.DisposeAsync();
        }
    }
}
