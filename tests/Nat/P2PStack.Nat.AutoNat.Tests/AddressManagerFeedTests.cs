using P2PStack.Addressing;
using P2PStack.Nat.Testing;
using P2PStack.Network;

namespace P2PStack.Nat.AutoNat.Tests;

/// <summary>AutoNAT's verdicts reach the host's address manager: private addresses stop being advertised, public ones
/// are advertised without waiting for more observers.</summary>
public class AddressManagerFeedTests
{
    [Fact]
    public async Task VerdictsChangeTheAdvertisedSetAndRaiseAnAddressChange()
    {
        await using var peer = await TestPeer.StartAsync(startHostedServices: false);
        var manager = peer.Host.AddressManager;
        var listen = peer.Host.AdvertisedAddresses[0];
        var changes = new List<LocalAddressesChanged>();
        using var subscription = peer.Host.Events.Subscribe<LocalAddressesChanged>(changes.Add);

        manager.SetReachability(listen, Reachability.Private);
        Assert.DoesNotContain(listen, peer.Host.AdvertisedAddresses);
        Assert.Single(changes);

        var mapped = Multiaddr.Parse("/ip4/11.0.1.7/tcp/4001"); // e.g. an observed address no second observer confirmed yet
        manager.SetReachability(mapped, Reachability.Public);
        Assert.Contains(mapped, peer.Host.AdvertisedAddresses);
        Assert.Equal(Reachability.Public, manager.Reachabilities[mapped]);

        manager.SetReachability(listen, Reachability.Unknown);
        Assert.Contains(listen, peer.Host.AdvertisedAddresses);
        Assert.Equal(3, changes.Count);
    }
}
