using System.Net;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Nat.AutoNat.Tests;

public class PolicyTests
{
    private static Multiaddr M(string text) => Multiaddr.Parse(text);

    [Theory]
    [InlineData("/ip4/11.0.0.5/tcp/4001", true)]
    [InlineData("/ip4/11.0.0.5/tcp/4001/ws", true)]
    [InlineData("/ip4/192.168.1.2/tcp/4001", false)]
    [InlineData("/ip4/127.0.0.1/tcp/4001", false)]
    [InlineData("/ip4/100.64.0.1/tcp/4001", false)]
    [InlineData("/ip4/11.0.0.5/udp/4001/quic-v1", false)]
    [InlineData("/ip6/2001:db8::1/tcp/4001", false)]
    [InlineData("/ip6/2a01:4f8::1/tcp/4001", true)]
    [InlineData("/dns4/example.com/tcp/4001", false)]
    public void OnlyPublicTcpAddressesAreDialable(string address, bool dialable) =>
        Assert.Equal(dialable, DialBackPolicy.IsDialable(M(address), allowPrivate: false, haveIPv4: true, haveIPv6: true));

    [Fact]
    public void RelayedAndWrongFamilyAddressesAreNot()
    {
        var relay = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        Assert.False(DialBackPolicy.IsDialable(M($"/ip4/11.0.0.5/tcp/4001/p2p/{relay}/p2p-circuit"), true, true, true));
        Assert.False(DialBackPolicy.IsDialable(M("/ip6/2a01:4f8::1/tcp/4001"), false, haveIPv4: true, haveIPv6: false));
    }

    [Fact]
    public void V1SelectsOnlyTheObservedIp()
    {
        var selected = DialBackPolicy.SelectV1([M("/ip4/11.0.0.5/tcp/1"), M("/ip4/11.0.0.6/tcp/1"), M("/ip4/11.0.0.5/tcp/2")],
            IPAddress.Parse("11.0.0.5"), 8, false, true, true);
        Assert.Equal([M("/ip4/11.0.0.5/tcp/1"), M("/ip4/11.0.0.5/tcp/2")], selected);
        Assert.Empty(DialBackPolicy.SelectV1([M("/ip4/11.0.0.6/tcp/1")], IPAddress.Parse("11.0.0.5"), 8, false, true, true));
    }

    [Fact]
    public void V2AsksForDialDataOnlyForAnotherIp()
    {
        Multiaddr?[] requested = [null, M("/ip4/10.0.0.1/tcp/1"), M("/ip4/11.0.0.6/tcp/1"), M("/ip4/11.0.0.5/tcp/1")];
        Assert.Equal(2, DialBackPolicy.SelectV2(requested, IPAddress.Parse("11.0.0.5"), false, true, true, out bool needs));
        Assert.True(needs);
        Assert.Equal(0, DialBackPolicy.SelectV2([M("/ip4/11.0.0.5/tcp/1")], IPAddress.Parse("11.0.0.5"), false, true, true, out needs));
        Assert.False(needs);
        Assert.Equal(-1, DialBackPolicy.SelectV2([M("/ip4/10.0.0.1/tcp/1")], IPAddress.Parse("11.0.0.5"), false, true, true, out _));
    }

    [Fact]
    public void TrackerNeedsConfirmationsFromDistinctServers()
    {
        var tracker = new ReachabilityTracker(new AutoNatOptions { Confirmations = 2 });
        var address = M("/ip4/11.0.0.5/tcp/1");
        PeerId Server() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var first = Server();
        Assert.False(tracker.Record(new AutoNatProbeResult(first, 2, address, true, [address])));
        Assert.False(tracker.Record(new AutoNatProbeResult(first, 2, address, true, [address]))); // same server again
        Assert.Equal(Reachability.Unknown, tracker.Node);
        Assert.True(tracker.Record(new AutoNatProbeResult(Server(), 2, address, true, [address])));
        Assert.Equal(Reachability.Public, tracker.Node);
        tracker.Record(new AutoNatProbeResult(Server(), 2, address, false, [address]));
        Assert.Equal(Reachability.Public, tracker.Addresses[address]); // 2 yes, 1 no
        var other = M("/ip4/11.0.0.5/tcp/2");
        tracker.Record(new AutoNatProbeResult(Server(), 1, null, false, [other]));
        tracker.Record(new AutoNatProbeResult(Server(), 1, null, false, [other]));
        Assert.Equal(Reachability.Private, tracker.Addresses[other]);
        Assert.Equal(Reachability.Public, tracker.Node); // one public address makes the node public
    }
}
