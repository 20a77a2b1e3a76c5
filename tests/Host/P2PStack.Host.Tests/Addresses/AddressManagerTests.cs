using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NSubstitute;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests.Addresses;

public class AddressManagerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static (AddressManager Manager, ILocalIdentity Identity, List<LocalAddressesChanged> Events) Create(
        Action<HostOptions>? configure = null)
    {
        var options = new HostOptions();
        configure?.Invoke(options);
        var identity = new LocalIdentity(PrivateKey.Generate());
        var events = new EventBus(NullLogger<EventBus>.Instance);
        var published = new List<LocalAddressesChanged>();
        events.Subscribe<LocalAddressesChanged>(published.Add);
        return (new AddressManager(Options.Create(options), identity, events), identity, published);
    }

    private static IConnection Connection(ILocalIdentity local, string localAddress, string remoteAddress, bool direct = true)
    {
        var connection = Substitute.For<IConnection>();
        connection.LocalPeer.Returns(local.PeerId);
        connection.LocalAddress.Returns(Multiaddr.Parse(localAddress));
        connection.RemoteAddress.Returns(Multiaddr.Parse(remoteAddress));
        connection.IsDirect.Returns(direct);
        return connection;
    }

    [Fact]
    public void An_observed_address_is_advertised_once_enough_distinct_observer_networks_report_it()
    {
        var (manager, identity, events) = Create(o => o.Addresses.ObservedAddressThreshold = 3);
        manager.AddListenAddress(Multiaddr.Parse("/ip4/10.0.0.5/tcp/4001"));
        var observed = Multiaddr.Parse("/ip4/203.0.113.7/tcp/4001");
        events.Clear();

        // Two networks, one of them through several peers: not enough.
        manager.RecordObservedAddress(Connection(identity, "/ip4/10.0.0.5/tcp/4001", "/ip4/198.51.100.1/tcp/5000"), observed);
        manager.RecordObservedAddress(Connection(identity, "/ip4/10.0.0.5/tcp/4001", "/ip4/198.51.100.2/tcp/5000"), observed);
        manager.RecordObservedAddress(Connection(identity, "/ip4/10.0.0.5/tcp/4001", "/ip4/192.0.2.1/tcp/5000"), observed);
        Assert.Empty(manager.ObservedAddresses);
        Assert.DoesNotContain(observed, manager.AdvertisedAddresses);
        Assert.Empty(events);

        // Observations that cannot be dialed back do not count: an ephemeral local port, a relayed connection, a
        // connection under another identity.
        manager.RecordObservedAddress(Connection(identity, "/ip4/10.0.0.5/tcp/39000", "/ip4/20.0.0.1/tcp/5000"), observed);
        manager.RecordObservedAddress(Connection(identity, "/ip4/10.0.0.5/tcp/4001", "/ip4/21.0.0.1/tcp/5000", direct: false), observed);
        manager.RecordObservedAddress(Connection(new LocalIdentity(PrivateKey.Generate()), "/ip4/10.0.0.5/tcp/4001", "/ip4/22.0.0.1/tcp/5000"), observed);
        Assert.Empty(manager.ObservedAddresses);

        manager.RecordObservedAddress(Connection(identity, "/ip4/10.0.0.5/tcp/4001", "/ip4/23.0.0.1/tcp/5000"), observed);
        Assert.Equal([observed], manager.ObservedAddresses);
        Assert.Contains(observed, manager.AdvertisedAddresses);
        Assert.Contains(observed, Assert.Single(events).Addresses);
    }

    [Fact]
    public void Relay_addresses_are_advertised_and_every_change_is_published()
    {
        var (manager, _, events) = Create();
        var relay = Multiaddr.Parse("/ip4/198.51.100.9/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit");
        Assert.True(manager.AddRelayAddress(relay));
        Assert.False(manager.AddRelayAddress(relay));
        Assert.Equal([relay], manager.RelayAddresses);
        Assert.Contains(relay, Assert.Single(events).Addresses);
        Assert.True(manager.RemoveRelayAddress(relay));
        Assert.Equal(2, events.Count);
        Assert.Empty(events[1].Addresses);
    }

    [Fact]
    public void Mapped_addresses_are_advertised_replaced_and_removed_unless_found_private_within_their_limit()
    {
        var (manager, _, events) = Create(o => o.Addresses.MaxMappedAddresses = 2);
        manager.AddListenAddress(Multiaddr.Parse("/ip4/10.0.0.5/tcp/4001"));
        var mapped = Multiaddr.Parse("/ip4/203.0.113.7/tcp/4001");
        var other = Multiaddr.Parse("/ip4/203.0.113.7/tcp/40001");
        events.Clear();

        manager.SetMappedAddresses([mapped]);
        Assert.Equal([mapped], manager.MappedAddresses);
        Assert.Contains(mapped, manager.AdvertisedAddresses);
        Assert.Contains(mapped, Assert.Single(events).Addresses);
        manager.SetMappedAddresses([mapped]);
        Assert.Single(events); // nothing changed, nothing published

        // A renewal to another external port replaces it.
        manager.SetMappedAddresses([other]);
        Assert.Contains(other, events[^1].Addresses);
        Assert.DoesNotContain(mapped, events[^1].Addresses);

        // AutoNAT found it unreachable (a gateway that maps but does not forward): no longer advertised.
        manager.SetReachability(other, Reachability.Private);
        Assert.DoesNotContain(other, manager.AdvertisedAddresses);
        manager.SetReachability(other, Reachability.Unknown);
        Assert.Contains(other, manager.AdvertisedAddresses);

        // Over the limit: refused, the set in place stays.
        Assert.Throws<ResourceLimitExceededException>(() => manager.SetMappedAddresses(
            [mapped, other, Multiaddr.Parse("/ip4/203.0.113.7/tcp/40002")]));
        Assert.Equal([other], manager.MappedAddresses);

        // The mapping is gone: so is the address.
        manager.SetMappedAddresses([]);
        Assert.Empty(manager.MappedAddresses);
        Assert.DoesNotContain(other, manager.AdvertisedAddresses);
        Assert.DoesNotContain(other, events[^1].Addresses);
    }

    [Fact]
    public void Announce_options_replace_extend_and_filter_the_advertised_set()
    {
        var (manager, _, _) = Create(o =>
        {
            o.Addresses.AppendAnnounce.Add(Multiaddr.Parse("/ip4/203.0.113.1/tcp/4001"));
            o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/192.168.0.0/ipcidr/16"));
            o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/10.1.2.3"));
            o.Addresses.AnnounceFilter = addresses => [.. addresses.Where(a => !a.ToString().EndsWith("/tcp/4444", StringComparison.Ordinal))];
        });
        manager.AddListenAddress(Multiaddr.Parse("/ip4/192.168.1.20/tcp/4001"));
        manager.AddListenAddress(Multiaddr.Parse("/ip4/10.1.2.3/tcp/4001"));
        manager.AddListenAddress(Multiaddr.Parse("/ip4/10.1.2.4/tcp/4001"));
        manager.AddListenAddress(Multiaddr.Parse("/ip4/10.1.2.4/tcp/4444"));
        Assert.Equal(["/ip4/10.1.2.4/tcp/4001", "/ip4/203.0.113.1/tcp/4001"], manager.AdvertisedAddresses.Select(a => a.ToString()));

        var (replaced, _, _) = Create(o => o.AnnounceAddresses.Add(Multiaddr.Parse("/dns4/node.example/tcp/4001")));
        replaced.AddListenAddress(Multiaddr.Parse("/ip4/10.1.2.4/tcp/4001"));
        Assert.Equal(["/dns4/node.example/tcp/4001"], replaced.AdvertisedAddresses.Select(a => a.ToString()));
    }

    [Fact]
    public async Task An_address_change_is_pushed_to_connected_peers_by_identify()
    {
        var (server, client) = await IdentifiedPairAsync();
        await using var disposeServer = server;
        await using var disposeClient = client;

        await using (var added = await server.Host.ListenAsync(Multiaddr.Parse("/memory/0"), CancellationToken.None))
        {
            Assert.Contains(added.Address, server.Host.AdvertisedAddresses);
            await WaitUntilAsync(() => client.Host.PeerStore.GetAddresses(server.Host.PeerId).Contains(added.Address));

            var relay = Multiaddr.Parse($"/memory/77/p2p/{client.Host.PeerId}/p2p-circuit");
            server.Host.AddressManager.AddRelayAddress(relay);
            await WaitUntilAsync(() => client.Host.PeerStore.GetAddresses(server.Host.PeerId).Contains(relay));
            server.Host.AddressManager.RemoveRelayAddress(relay);
            await WaitUntilAsync(() => !client.Host.PeerStore.GetAddresses(server.Host.PeerId).Contains(relay));
        }
        // The listener is gone: the next push (a signed record replacing the addresses) drops it.
        await WaitUntilAsync(() => client.Host.PeerStore.GetAddresses(server.Host.PeerId).Count == 1);
    }

    [Fact]
    public void Changing_the_announce_addresses_publishes_the_new_advertised_set()
    {
        var (manager, _, events) = Create();
        manager.AddListenAddress(Multiaddr.Parse("/ip4/10.0.0.5/tcp/4001"));
        events.Clear();

        var announced = Multiaddr.Parse("/dns4/node.example/tcp/4001");
        manager.SetAnnounceAddresses([announced, announced]);
        Assert.Equal([announced], manager.AnnounceAddresses);
        Assert.Equal([announced], manager.AdvertisedAddresses);
        Assert.Equal([announced], Assert.Single(events).Addresses);

        manager.SetAnnounceAddresses([announced]); // no change: nothing published
        Assert.Single(events);

        manager.SetAnnounceAddresses([]); // back to the listen addresses
        Assert.Equal(2, events.Count);
        Assert.DoesNotContain(announced, events[1].Addresses);
        Assert.Equal(manager.AdvertisedAddresses, events[1].Addresses);
        Assert.NotEmpty(events[1].Addresses);
    }

    [Fact]
    public async Task Announce_addresses_changed_at_run_time_are_pushed_to_connected_peers_by_identify()
    {
        var (server, client) = await IdentifiedPairAsync();
        await using var disposeServer = server;
        await using var disposeClient = client;

        var announced = Multiaddr.Parse("/memory/4242");
        server.Host.AddressManager.SetAnnounceAddresses([announced]);
        await WaitUntilAsync(() => client.Host.PeerStore.GetAddresses(server.Host.PeerId).Contains(announced));
        server.Host.AddressManager.SetAnnounceAddresses([]);
        await WaitUntilAsync(() => !client.Host.PeerStore.GetAddresses(server.Host.PeerId).Contains(announced));
    }

    /// <summary>Two peers on a memory network, the client connected to the server and each identified by the other:
    /// the server pushes only to peers it knows speak identify push.</summary>
    private static async Task<(TestPeer Server, TestPeer Client)> IdentifiedPairAsync()
    {
        var network = new MemoryNetwork();
        var server = await TestPeer.StartAsync("/memory/0", network);
        TestPeer? client = null;
        try
        {
            client = await TestPeer.StartAsync("/memory/0", network);
            await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
            await WaitUntilAsync(() => server.Host.PeerStore.GetProtocols(client.Host.PeerId).Contains(Protocols.Identify.IdentifyProtocol.PushId)
                && client.Host.PeerStore.GetAddresses(server.Host.PeerId).Count == 1);
            return (server, client);
        }
        catch
        {
            if (client is not null) await client.DisposeAsync();
            await server.DisposeAsync();
            throw;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(20);
        }
    }
}
