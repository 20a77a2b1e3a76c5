using System.Net;

namespace P2PStack.Protocols.Kademlia.Tests;

public class DiversityFilterTests
{
    private readonly PeerDiversityFilter _filter = new(new DiversityOptions());

    [Theory]
    [InlineData("8.8.8.8", "ip4:8.8.0.0/16")]
    [InlineData("8.8.255.1", "ip4:8.8.0.0/16")]
    [InlineData("12.34.56.78", "ip4:12.0.0.0/8")] // legacy class A, grouped as go does
    [InlineData("::ffff:8.8.4.4", "ip4:8.8.0.0/16")]
    [InlineData("2001:db8:1:2::1", "ip6:20010db8/32")]
    [InlineData("2a00:1450:4001::1", "ip6:2a001450/32")]
    public void GroupsPublicAddresses(string address, string group) => Assert.Equal(group, _filter.GroupOf(IPAddress.Parse(address)));

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.5.5")]
    [InlineData("192.168.0.10")]
    [InlineData("169.254.1.1")]
    [InlineData("100.64.0.1")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    [InlineData("fd00::1")]
    public void NonPublicAddressesFormNoGroup(string address) => Assert.Null(_filter.GroupOf(IPAddress.Parse(address)));

    [Fact]
    public void NonPublicAddressesAreGroupedWhenNotExempt()
    {
        var strict = new PeerDiversityFilter(new DiversityOptions { ExemptNonPublicAddresses = false });
        Assert.Equal("ip4:127.0.0.0/16", strict.GroupOf(IPAddress.Loopback));
    }

    [Fact]
    public void APeerWithAnyOverfullGroupIsRefused()
    {
        var a = TestPeers.Random();
        Assert.True(_filter.TryAdd(a, 0, [IPAddress.Parse("8.8.8.8")]));
        Assert.True(_filter.TryAdd(TestPeers.Random(), 0, [IPAddress.Parse("8.8.8.9")]));
        // One address in the full group is enough to refuse.
        Assert.False(_filter.TryAdd(TestPeers.Random(), 0, [IPAddress.Parse("9.9.9.9"), IPAddress.Parse("8.8.1.1")]));
        Assert.Equal(0, _filter.CountInGroup("ip4:9.9.0.0/16"));
        _filter.Remove(a);
        Assert.Equal(1, _filter.CountInGroup("ip4:8.8.0.0/16"));
    }
}
