using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Nat.Testing;
using P2PStack.Protocols.Identify;
using P2PStack.Records;
using P2PStack.Testing;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// The port mapping service on a node (registered by <c>AddPortMapping</c>, started as a hosted service) against a
/// NAT-PMP gateway on loopback, on a manual clock: it maps the node's TCP listen port, renews the mapping at half the
/// lease the gateway granted, removes it on stop, and after a refusal tries again after the retry interval.
/// </summary>
// IAsyncLifetime, not IAsyncDisposable: xUnit 2 never calls IAsyncDisposable.DisposeAsync on a test class.
[Collection(PortMappingMetricsCollection.Name)]
public sealed class PortMappingServiceTests : IAsyncLifetime
{
    private static readonly IPAddress External = IPAddress.Parse("11.0.1.1");
    private readonly FakeNatPmpGateway _gateway = new(External);
    private readonly ManualClock _clock = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly MetricCapture _metrics = new(PortMappingMetrics.MeterName);
    private readonly ConcurrentQueue<PortMappingsChanged> _changes = new();
    private TestPeer? _peer;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_peer is not null) await _peer.DisposeAsync();
        _metrics.Dispose();
        _gateway.Dispose();
    }

    /// <summary>A node listening on every interface (the service leaves loopback-only ports alone) whose port mapping
    /// service runs on the manual clock and talks NAT-PMP only, to the fake gateway.</summary>
    private async Task<(PortMappingService Service, int Port)> StartNodeAsync(Action<PortMappingOptions>? configure = null)
    {
        _peer = await TestPeer.StartAsync(p =>
        {
            p.Services.AddSingleton<TimeProvider>(_clock);
            p.AddPortMapping(o =>
            {
                o.Protocols = PortMappingProtocols.NatPmp;
                o.Gateway = _gateway.Address;
                o.Lease = TimeSpan.FromHours(1);
                o.RetryInterval = TimeSpan.FromMinutes(10);
                // Retransmissions run on real time: a first answer slower than the default 250 ms (a cold JIT, as in CI
                // run M) would add a request the tests count. The fake gateway answers every request, so none is needed.
                o.GatewayInitialRto = TimeSpan.FromSeconds(30);
                o.RenewalRetryInterval = TimeSpan.FromSeconds(5);
                configure?.Invoke(o);
            });
        }, listen: "/ip4/0.0.0.0/tcp/0");
        _peer.Host.Events.Subscribe<PortMappingsChanged>(_changes.Enqueue);
        int port = int.Parse(_peer.Host.ListenAddresses[0].ValueOf(MultiaddrProtocols.Tcp)!, System.Globalization.CultureInfo.InvariantCulture);
        return (_peer.Get<PortMappingService>(), port);
    }

    /// <summary>Until the service's loop sleeps on the manual clock (its round is over).</summary>
    private Task SleepingAsync() => Poll.UntilAsync(() => _clock.PendingTimers == 1, "the port mapping service waiting for its next round");

    [Fact]
    public async Task MappingIsRenewedAtHalfTheGrantedLeaseAndRemovedOnStop()
    {
        var (service, port) = await StartNodeAsync();

        // The hosted service maps the listen port, asking for the configured lease; the gateway grants 60 s.
        var mapping = await Poll.UntilAsync(() => service.Mappings.FirstOrDefault(), "the first mapping");
        Assert.Equal(new NatPmpRequest(port, port, TimeSpan.FromHours(1)), Assert.Single(_gateway.Requests));
        Assert.Equal(("NAT-PMP", External, port, TimeSpan.FromSeconds(60)), (mapping.Method, mapping.ExternalAddress, mapping.ExternalPort, mapping.Lifetime));
        Assert.Equal([Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{port}")], service.ExternalAddresses);
        Assert.Null(service.LastError);
        await SleepingAsync();

        // Not before half the lease...
        _changes.Clear();
        _gateway.GrantPort = port + 1; // the gateway gives the renewal another external port
        _clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(1, _clock.PendingTimers); // still asleep: nothing was due
        Assert.Single(_gateway.Requests);

        // ...at half of it: the renewal repeats the external port it holds, and the new port replaces the old one.
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => _gateway.Requests.Count == 2, "the renewal");
        Assert.Equal(new NatPmpRequest(port, port, TimeSpan.FromHours(1)), _gateway.Requests[1]);
        await Poll.UntilAsync(() => service.ExternalAddresses.SequenceEqual([Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{port + 1}")]),
            "the renewed external port");
        var renewed = await Poll.UntilAsync(() => _changes.LastOrDefault(), "PortMappingsChanged after the renewal");
        Assert.Equal(port + 1, Assert.Single(renewed.Mappings).ExternalPort);
        await SleepingAsync();
        Assert.Equal(2, _metrics.Sum("p2pstack_port_mappings_created_total", "method=NAT-PMP"));

        // The next renewal is again half a lease later (30 s after the last one).
        _clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(2, _gateway.Requests.Count);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => _gateway.Requests.Count == 3, "the second renewal");
        Assert.Equal(new NatPmpRequest(port, port + 1, TimeSpan.FromHours(1)), _gateway.Requests[2]);
        await SleepingAsync();

        // Stop removes the mapping: a request with lifetime 0 (RFC 6886 section 3.4), and announces no mappings.
        _changes.Clear();
        await service.StopAsync(CancellationToken.None);
        Assert.Equal(new NatPmpRequest(port, 0, TimeSpan.Zero), _gateway.Requests[^1]);
        Assert.Equal(4, _gateway.Requests.Count);
        Assert.Empty(service.Mappings);
        Assert.Empty(Assert.Single(_changes).Mappings);
    }

    /// <summary>What the remote last received from the node by identify (request or push): the addresses of its signed
    /// peer record.</summary>
    private static IReadOnlyList<Multiaddr> RecordedAt(TestPeer remote, TestPeer node) =>
        remote.Host.PeerStore.GetPeerRecord(node.Host.PeerId) is { } envelope ? PeerRecord.FromEnvelope(envelope).Addresses : [];

    [Fact]
    public async Task MappedAddressIsAdvertisedAndSentByIdentifyUntilTheMappingIsLostOrRemoved()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var (service, port) = await StartNodeAsync();
        var node = _peer!;
        await using var remote = await TestPeer.StartAsync();
        var connection = await remote.Host.DialAsync(Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}/p2p/{node.Host.PeerId}"), timeout.Token);
        var identify = remote.Get<IdentifyService>();

        // Mapped: the host advertises the gateway's address and port, and identify sends it (listenAddrs and the record).
        var mapped = Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{port}");
        await Poll.UntilAsync(() => service.Mappings.Count == 1, "the mapping");
        Assert.Equal([mapped], node.Host.AddressManager.MappedAddresses);
        Assert.Contains(mapped, node.Host.AdvertisedAddresses);
        var info = await identify.IdentifyAsync(connection, timeout.Token);
        Assert.Contains(mapped, info.ListenAddresses);
        Assert.Contains(mapped, RecordedAt(remote, node));
        await SleepingAsync();

        // Renewed to another external port: the new address replaces the old one, and identify push tells the remote.
        _gateway.GrantPort = port + 1;
        _clock.Advance(TimeSpan.FromSeconds(30));
        var renewed = Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{port + 1}");
        await Poll.UntilAsync(() => RecordedAt(remote, node).Contains(renewed) && !RecordedAt(remote, node).Contains(mapped),
            "the renewed address pushed to the remote");
        Assert.Contains(renewed, node.Host.AdvertisedAddresses);
        Assert.DoesNotContain(mapped, node.Host.AdvertisedAddresses);
        await SleepingAsync();

        // Lost: the gateway refuses the next renewal; the address is no longer advertised, and the push says so.
        _gateway.RefuseWith = 2; // Not Authorized/Refused
        _clock.Advance(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => service.LastError is not null, "the refused renewal");
        Assert.Empty(node.Host.AddressManager.MappedAddresses);
        Assert.Equal(1, Lost("renewal_refused"));
        Assert.DoesNotContain(renewed, node.Host.AdvertisedAddresses);
        await Poll.UntilAsync(() => !RecordedAt(remote, node).Contains(renewed), "the lost mapping pushed to the remote");
        Assert.DoesNotContain(renewed, (await identify.IdentifyAsync(connection, timeout.Token)).ListenAddresses);
        await SleepingAsync();

        // Mapped again after the retry interval, then removed on stop: advertised again, then gone again.
        _gateway.RefuseWith = 0;
        _gateway.GrantPort = null;
        _clock.Advance(TimeSpan.FromMinutes(10));
        await Poll.UntilAsync(() => node.Host.AdvertisedAddresses.Contains(mapped), "the mapping made again, advertised");
        await Poll.UntilAsync(() => RecordedAt(remote, node).Contains(mapped), "the mapping made again, pushed to the remote");
        await SleepingAsync();
        await service.StopAsync(CancellationToken.None);
        Assert.Empty(node.Host.AddressManager.MappedAddresses);
        Assert.DoesNotContain(mapped, node.Host.AdvertisedAddresses);
        await Poll.UntilAsync(() => !RecordedAt(remote, node).Contains(mapped), "the removed mapping pushed to the remote");
        Assert.DoesNotContain(mapped, (await identify.IdentifyAsync(connection, timeout.Token)).ListenAddresses);
    }

    [Fact]
    public async Task RefusedMappingIsTriedAgainAfterTheRetryInterval()
    {
        _gateway.RefuseWith = 3; // Network Failure, what miniupnpd answers when its WAN address is private
        var (service, port) = await StartNodeAsync();

        var error = await Poll.UntilAsync(() => service.LastError, "the refusal");
        Assert.True(error.Refused);
        var refusal = Assert.IsType<PortMappingRefusedException>(Assert.Single(error.Errors));
        Assert.Equal(("NAT-PMP", 3), (refusal.Protocol, refusal.Code));
        Assert.Empty(service.Mappings);
        Assert.Empty(service.ExternalAddresses);
        await SleepingAsync();
        Assert.Equal(1, _metrics.Sum("p2pstack_port_mapping_failures_total", "method=NAT-PMP", "reason=refused"));

        _gateway.RefuseWith = 0;
        _clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        Assert.Single(_gateway.Requests);
        _clock.Advance(TimeSpan.FromSeconds(1));
        var mapping = await Poll.UntilAsync(() => service.Mappings.FirstOrDefault(), "the mapping after the retry");
        Assert.Equal(2, _gateway.Requests.Count);
        Assert.Equal(port, mapping.ExternalPort);
        await SleepingAsync(); // the round is over: LastError is cleared after the mappings are published
        Assert.Null(service.LastError);
    }

    /// <summary>A silent gateway must end an exchange in bounded real time: two requests, 1 s then 2 s (long enough
    /// that a loaded machine's slow answer is not taken for silence; a slow first answer may still add a request, so
    /// these tests do not count requests exactly).</summary>
    private static void QuickGiveUp(PortMappingOptions o)
    {
        o.GatewayInitialRto = TimeSpan.FromSeconds(1);
        o.GatewayMaxTransmissions = 2;
    }

    /// <summary>A node whose port is mapped (waiting for its next renewal, no change recorded yet) behind a gateway
    /// that has just fallen silent.</summary>
    private async Task<(PortMappingService Service, int Port, TestPeer Node, Multiaddr Mapped)> MappedThenSilentAsync()
    {
        var (service, port) = await StartNodeAsync(QuickGiveUp);
        await Poll.UntilAsync(() => service.Mappings.Count == 1, "the mapping");
        await SleepingAsync();
        _changes.Clear();
        _gateway.Silent = true;
        return (service, port, _peer!, Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{port}"));
    }

    private long NotFound => _metrics.Sum("p2pstack_port_mapping_failures_total", "method=NAT-PMP", "reason=not_found");

    private long Lost(string reason) => _metrics.Sum("p2pstack_port_mappings_lost_total", "method=NAT-PMP", $"reason={reason}");

    private static int PortOf(Multiaddr address) =>
        int.Parse(address.ValueOf(MultiaddrProtocols.Tcp)!, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task ListenerAddedAfterStartIsMappedAtOnceAndRenewedOnItsOwnLease()
    {
        var (service, port) = await StartNodeAsync();
        var node = _peer!;
        await Poll.UntilAsync(() => service.Mappings.Count == 1, "the first mapping");
        await SleepingAsync();
        _clock.Advance(TimeSpan.FromSeconds(10)); // the first renewal is due at 30 s: nothing happens now
        Assert.Single(_gateway.Requests);
        _changes.Clear();

        // A second listener at 10 s. The clock stands still (no round is due): it is mapped at once, advertised, announced.
        var second = await node.Host.ListenAsync(Multiaddr.Parse("/ip4/0.0.0.0/tcp/0"), CancellationToken.None);
        int secondPort = PortOf(second.Address);
        await Poll.UntilAsync(() => service.Mappings.Count == 2, "the second port mapped without waiting for a round");
        Assert.Equal(new NatPmpRequest(secondPort, secondPort, TimeSpan.FromHours(1)), _gateway.Requests[1]);
        Assert.Equal(2, _gateway.Requests.Count);
        Assert.Equal(new[] { port, secondPort }.Order(), node.Host.AddressManager.MappedAddresses.Select(PortOf).Order());
        Assert.Equal(2, (await Poll.UntilAsync(() => _changes.LastOrDefault(), "PortMappingsChanged for the new mapping")).Mappings.Count);
        await SleepingAsync();
        Assert.Null(service.LastError);

        // Each mapping keeps its own schedule: the first renewed at 30 s, the second at half its lease after 10 s (40 s).
        _clock.Advance(TimeSpan.FromSeconds(20));
        await Poll.UntilAsync(() => _gateway.Requests.Count == 3, "the first mapping's renewal");
        Assert.Equal(new NatPmpRequest(port, port, TimeSpan.FromHours(1)), _gateway.Requests[2]);
        await SleepingAsync();
        _clock.Advance(TimeSpan.FromSeconds(9));
        Assert.Equal(3, _gateway.Requests.Count);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => _gateway.Requests.Count == 4, "the second mapping's renewal");
        Assert.Equal(new NatPmpRequest(secondPort, secondPort, TimeSpan.FromHours(1)), _gateway.Requests[3]);
        await SleepingAsync();
        Assert.Equal(2, service.Mappings.Count);
    }

    [Fact]
    public async Task MappingOfAClosedListenerIsWithdrawnRemovedFromTheGatewayAndCountedAtOnce()
    {
        var (service, port) = await StartNodeAsync();
        var node = _peer!;
        await Poll.UntilAsync(() => service.Mappings.Count == 1, "the first mapping");
        await SleepingAsync();

        // A second listener, mapped at once.
        var second = await node.Host.ListenAsync(Multiaddr.Parse("/ip4/0.0.0.0/tcp/0"), CancellationToken.None);
        int secondPort = PortOf(second.Address);
        await Poll.UntilAsync(() => service.Mappings.Count == 2, "the second port mapped");
        await SleepingAsync();
        Assert.Contains(Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{secondPort}"), node.Host.AddressManager.MappedAddresses);
        _changes.Clear();
        int requests = _gateway.Requests.Count;

        // The second listener closes. Without any round being due (the clock stands still): its address is withdrawn,
        // the change announced, the gateway asked to delete the mapping (lifetime 0), the loss counted; the first stays.
        await second.DisposeAsync();
        var change = await Poll.UntilAsync(() => _changes.LastOrDefault(), "PortMappingsChanged after the listener closed");
        Assert.Equal(port, Assert.Single(change.Mappings).InternalPort);
        Assert.Equal([Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{port}")], node.Host.AddressManager.MappedAddresses);
        await Poll.UntilAsync(() => _gateway.Requests.Count > requests, "the removal at the gateway");
        Assert.Equal(new NatPmpRequest(secondPort, 0, TimeSpan.Zero), Assert.Single(_gateway.Requests.Skip(requests)));
        Assert.Equal(1, Lost("listener_closed"));
        await SleepingAsync();
        Assert.Equal(port, Assert.Single(service.Mappings).InternalPort);

        // The first mapping keeps its schedule: renewed at half its lease (30 s), and nothing is asked for the closed port.
        _clock.Advance(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => _gateway.Requests.Count == requests + 2, "the next renewal");
        Assert.Equal(new NatPmpRequest(port, port, TimeSpan.FromHours(1)), _gateway.Requests[^1]);
        await SleepingAsync();
        Assert.Equal(1, Lost("listener_closed"));
    }

    [Fact]
    public async Task RenewalsAnsweredWithGarbageUntilTheLeaseEndsLoseTheMappingAsLeaseExpired()
    {
        var (service, _) = await StartNodeAsync();
        var node = _peer!;
        await Poll.UntilAsync(() => service.Mappings.Count == 1, "the mapping");
        await SleepingAsync();
        _gateway.Garbage = true;
        long Malformed() => _metrics.Sum("p2pstack_port_mapping_failures_total", "method=NAT-PMP", "reason=malformed");

        // Renewals at 30 s, 35 s and 45 s get answers that do not parse; the mapping stays until its lease ends at 60 s.
        foreach (var (advance, failures) in new[] { (30, 1), (5, 2), (10, 3) })
        {
            _clock.Advance(TimeSpan.FromSeconds(advance));
            await Poll.UntilAsync(() => Malformed() == failures, $"failed renewal {failures}");
            await SleepingAsync();
            Assert.Single(node.Host.AddressManager.MappedAddresses);
        }
        _clock.Advance(TimeSpan.FromSeconds(15));
        await Poll.UntilAsync(() => node.Host.AddressManager.MappedAddresses.Count == 0, "the address withdrawn at the lease end");
        Assert.Equal(1, Lost("lease_expired")); // a gateway that answered, badly: not gone
        Assert.Equal(0, Lost("gateway_gone"));
        await SleepingAsync();
    }

    [Fact]
    public async Task RenewalFailingTransientlyKeepsTheAddressAndIsRetriedBeforeTheLeaseEnds()
    {
        var (service, port, node, mapped) = await MappedThenSilentAsync();

        // The gateway is silent for the renewal at half the 60 s lease: the renewal fails (not_found), but the lease
        // runs until 60 s, so the mapping and its advertised address stay, and nothing is announced.
        _clock.Advance(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => NotFound == 1, "the failed renewal");
        await SleepingAsync();
        Assert.NotNull(service.LastError);
        Assert.Equal(port, Assert.Single(service.Mappings).ExternalPort);
        Assert.Equal([mapped], node.Host.AddressManager.MappedAddresses);
        Assert.Contains(mapped, node.Host.AdvertisedAddresses);
        Assert.Empty(_changes);

        // Retried after RenewalRetryInterval (5 s), not before; the gateway answers again: renewed, still advertised.
        _gateway.Silent = false;
        int requests = _gateway.Requests.Count;
        _clock.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(1, _clock.PendingTimers);
        Assert.Equal(requests, _gateway.Requests.Count);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => service.LastError is null, "the renewal retried");
        await SleepingAsync();
        Assert.Equal(new NatPmpRequest(port, port, TimeSpan.FromHours(1)), _gateway.Requests[^1]);
        Assert.Equal([mapped], node.Host.AddressManager.MappedAddresses);
        Assert.Empty(_changes);
        Assert.Equal(1, NotFound);

        // The renewed lease starts over: the next renewal is half a lease after the retry.
        requests = _gateway.Requests.Count;
        _clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(requests, _gateway.Requests.Count);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => _gateway.Requests.Count > requests, "the next renewal");
        await SleepingAsync();
        Assert.Equal([mapped], node.Host.AddressManager.MappedAddresses);
    }

    [Fact]
    public async Task GatewaySilentPastTheLeaseEndWithdrawsTheAddressAtTheLeaseEnd()
    {
        var (service, port, node, mapped) = await MappedThenSilentAsync();

        // Renewals at 30 s, then 35 s and 45 s (backing off 5 s, 10 s) fail; the address stays all along.
        foreach (var (advance, failures) in new[] { (30, 1), (5, 2), (10, 3) })
        {
            _clock.Advance(TimeSpan.FromSeconds(advance));
            await Poll.UntilAsync(() => NotFound == failures, $"failed renewal {failures}");
            await SleepingAsync();
            Assert.Equal([mapped], node.Host.AddressManager.MappedAddresses);
        }

        // The next wait (20 s) would pass the lease end (60 s): no attempt at 59 s; at 60 s the mapping is dropped
        // without asking the gateway, the address withdrawn, the loss announced.
        _clock.Advance(TimeSpan.FromSeconds(14));
        Assert.Equal(1, _clock.PendingTimers);
        Assert.Equal([mapped], node.Host.AddressManager.MappedAddresses);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => node.Host.AddressManager.MappedAddresses.Count == 0, "the address withdrawn at the lease end");
        await SleepingAsync();
        Assert.DoesNotContain(mapped, node.Host.AdvertisedAddresses);
        Assert.Empty(service.Mappings);
        Assert.Empty(Assert.Single(_changes).Mappings);
        Assert.Equal(3, NotFound);
        Assert.Equal(1, Lost("gateway_gone")); // the last renewals found no gateway answering
        Assert.Equal(0, Lost("lease_expired"));

        // Then the ordinary remap after RetryInterval (10 min).
        _gateway.Silent = false;
        _clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        Assert.Empty(service.Mappings);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await Poll.UntilAsync(() => service.LastError is null, "the mapping made again");
        Assert.Equal([mapped], node.Host.AddressManager.MappedAddresses);
    }
}
