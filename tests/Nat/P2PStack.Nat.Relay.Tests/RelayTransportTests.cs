using P2PStack.Addressing;
using P2PStack.Nat.Relay.Pb;
using P2PStack.Nat.Testing;
using P2PStack.Network;
using P2PStack.Protocols.Ping;

namespace P2PStack.Nat.Relay.Tests;

/// <summary>The relay transport between real hosts on loopback: a node holds a reservation through the reservation
/// manager, advertises its circuit address, and another node dials it there; the relayed connection is limited.</summary>
// IAsyncLifetime, not IAsyncDisposable: xUnit 2 never calls IAsyncDisposable.DisposeAsync on a test class, so what
// the test started (hosts, processes, metric listeners) would outlive it.
[Collection("relay meter")] // with RelayServiceTests, whose metric capture counts every relay in the process
public sealed class RelayTransportTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly List<TestPeer> _peers = [];
    private readonly MetricCapture _metrics = new(RelayMetrics.MeterName);

    private static CancellationToken Ct() => new CancellationTokenSource(Timeout).Token;

    private async Task<TestPeer> StartAsync(Action<RelayServiceOptions>? service = null, Action<RelayClientOptions>? client = null)
    {
        var peer = await TestPeer.StartAsync(p => p.AddCircuitRelay(service, client));
        _peers.Add(peer);
        return peer;
    }

    private async Task<(TestPeer Relay, TestPeer Listener, Multiaddr Circuit)> ReservedAsync(Action<RelayServiceOptions>? service = null,
        Action<RelayClientOptions>? client = null)
    {
        var relay = await StartAsync(o =>
        {
            o.Enabled = true;
            o.AllowPrivateAddresses = true;
            service?.Invoke(o);
        });
        var listener = await StartAsync(client: o =>
        {
            o.StaticRelays.Add(relay.Address);
            client?.Invoke(o);
        });
        var circuit = await Poll.UntilAsync(() => listener.Host.AdvertisedAddresses.FirstOrDefault(a => AddressScope.IsRelayed(a)));
        return (relay, listener, circuit);
    }

    [Fact]
    public async Task ReservedNodeIsReachableAtItsAdvertisedCircuitAddressOverALimitedConnection()
    {
        var (relay, listener, circuit) = await ReservedAsync();
        Assert.Equal(relay.Address.Encapsulate("/p2p-circuit"), circuit);
        Assert.Contains(circuit, listener.Host.AddressManager.RelayAddresses);

        var dialer = await StartAsync();
        var connection = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"),
            new DialOptions { AllowLimited = true }, Ct());
        Assert.Equal(listener.Host.PeerId, connection.RemotePeer);
        Assert.False(connection.IsDirect);
        Assert.True(connection.IsLimited);
        Assert.Equal(new ConnectionLimits(TimeSpan.FromMinutes(2), 128 * 1024), connection.Limits);
        Assert.Equal("p2p-circuit", connection.Transport);

        // ping opts in to limited connections: it runs over the circuit.
        var stream = await connection.OpenStreamAsync([PingProtocol.Id], Ct());
        await using (stream)
        {
            Assert.Equal(2, (await dialer.Get<PingService>().PingAsync(stream, 2, Ct())).Count);
        }
        // The listener sees the inbound side limited too.
        var inbound = await Poll.UntilAsync(() => listener.Host.GetConnections(dialer.Host.PeerId).FirstOrDefault(c => c.IsLimited));
        Assert.Equal(Direction.Inbound, inbound.Direction);
    }

    [Fact]
    public async Task DialWithoutAllowLimitedDoesNotSettleForTheCircuit()
    {
        var (_, listener, circuit) = await ReservedAsync();
        var dialer = await StartAsync();
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), Ct()));
        Assert.IsType<LimitedConnectionException>(error);
    }

    [Fact]
    public async Task TheRelaysDataLimitEndsTheRelayedConnection()
    {
        var (_, listener, circuit) = await ReservedAsync(o => o.LimitData = 64 * 1024);
        var dialer = await StartAsync();
        var connection = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"),
            new DialOptions { AllowLimited = true }, Ct());
        var stream = await connection.OpenStreamAsync([PingProtocol.Id], Ct());
        await using (stream)
        {
            // Ping until the relay cuts the circuit at 64 KiB (each ping moves 32 bytes each way plus framing).
            await Assert.ThrowsAnyAsync<Exception>(() => dialer.Get<PingService>().PingAsync(stream, 100_000, Ct()));
        }
        await connection.Completion.WaitAsync(Timeout);
    }

    [Fact]
    public async Task ARelayThatDoesNotHoldItsAnnouncedDataLimitIsCutByOurSideAndCounted()
    {
        // The relay announces 16 KiB per direction but relays everything (a lying relay).
        var (_, listener, circuit) = await ReservedAsync(o =>
        {
            o.LimitData = 16 * 1024;
            o.EnforceLimits = false;
        });
        var dialer = await StartAsync();
        var connection = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"),
            new DialOptions { AllowLimited = true }, Ct());
        Assert.Equal(new ConnectionLimits(TimeSpan.FromMinutes(2), 16 * 1024), connection.Limits);
        var stream = await connection.OpenStreamAsync([PingProtocol.Id], Ct());
        await using (stream)
        {
            // 2,000 pings move well over 16 KiB each way: the relay lets them through, our side does not.
            await Assert.ThrowsAnyAsync<Exception>(() => dialer.Get<PingService>().PingAsync(stream, 2_000, Ct()));
        }
        await connection.Completion.WaitAsync(Timeout);
        await Poll.UntilAsync(() => _metrics.Sum("p2pstack_relay_client_errors_total", "kind=limit_exceeded") >= 1);
    }

    [Fact]
    public async Task ARelayThatDoesNotHoldItsAnnouncedDurationIsCutByOurSideAfterTheGraceAndCounted()
    {
        var (_, listener, circuit) = await ReservedAsync(o =>
        {
            o.LimitDuration = TimeSpan.FromSeconds(1);
            o.EnforceLimits = false;
        }, o => o.LimitGrace = TimeSpan.FromMilliseconds(500));
        var dialer = await StartAsync(client: o => o.LimitGrace = TimeSpan.FromMilliseconds(500));
        var connection = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"),
            new DialOptions { AllowLimited = true }, Ct());
        Assert.Equal(TimeSpan.FromSeconds(1), connection.Limits!.Duration);
        // Nothing moves on it: only the announced duration (plus the grace) ends it.
        await connection.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        await Poll.UntilAsync(() => _metrics.Sum("p2pstack_relay_client_errors_total", "kind=limit_exceeded") >= 1);
    }

    [Fact]
    public async Task LosingTheRelayRemovesTheCircuitAddress()
    {
        var (relay, listener, circuit) = await ReservedAsync();
        // The static relay is reserved again right after (a fresh connection): watch the advertised set change rather
        // than poll it, which may miss the short gap on a loaded machine.
        var withdrawn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var changes = listener.Host.Events.Subscribe<LocalAddressesChanged>(e =>
        {
            if (!e.Addresses.Contains(circuit)) withdrawn.TrySetResult();
        });
        await listener.Host.DisconnectAsync(relay.Host.PeerId, Ct());
        await withdrawn.Task.WaitAsync(Timeout);
    }

    [Fact]
    public async Task APrivateNodeReservesOnConnectedRelaysUpToItsLimitAndKeepsTheOthersWhenOneIsLost()
    {
        // Auto relay (--nat auto): no static relay; four connected relays, room for three reservations.
        var relays = new List<TestPeer>();
        for (int i = 0; i < 4; i++)
        {
            relays.Add(await StartAsync(o =>
            {
                o.Enabled = true;
                o.AllowPrivateAddresses = true;
            }));
        }
        var node = await StartAsync(client: o =>
        {
            o.AutoRelay = true;
            o.MaxReservations = 3;
        });
        foreach (var relay in relays) await node.ConnectAsync(relay, Ct());
        var manager = node.Get<RelayReservationManager>();
        Assert.Empty(manager.Reservations); // reachability unknown: no reason to be reached through relays

        // AutoNAT's verdict (forced here): private.
        node.Host.Events.Publish(new ReachabilityChanged(Reachability.Private, new Dictionary<Multiaddr, Reachability>()));
        static Multiaddr CircuitOf(TestPeer relay) => relay.Address.Encapsulate("/p2p-circuit");
        List<Multiaddr> Advertised() => [.. node.Host.AdvertisedAddresses.Where(AddressScope.IsRelayed)];
        await Poll.UntilAsync(() => manager.Reservations.Count == 3 && Advertised().Count == 3, "reservations on three relays, advertised");
        var reserved = relays.Where(r => Advertised().Contains(CircuitOf(r))).ToList();
        Assert.Equal(3, reserved.Count); // one circuit address per reserved relay
        var spare = Assert.Single(relays.Except(reserved));
        Assert.Equal(3, manager.Reservations.Count); // the fourth relay is not reserved on: the limit holds

        // Losing one relay removes its address only; the manager takes the spare relay in its place.
        var lost = reserved[0];
        await node.Host.DisconnectAsync(lost.Host.PeerId, Ct());
        await Poll.UntilAsync(() => !Advertised().Contains(CircuitOf(lost)) && Advertised().Contains(CircuitOf(spare)), "the spare relay in place of the lost one");
        Assert.Equal([.. reserved.Skip(1).Append(spare).Select(r => CircuitOf(r).ToString()).Order(StringComparer.Ordinal)],
            Advertised().Select(a => a.ToString()).Order(StringComparer.Ordinal).ToList());
        Assert.Equal(3, manager.Reservations.Count);

        // Each advertised circuit address reaches the node through its relay.
        var dialer = await StartAsync();
        foreach (var relay in reserved.Skip(1).Append(spare))
        {
            var connection = await dialer.Host.DialAsync(CircuitOf(relay).Encapsulate($"/p2p/{node.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());
            Assert.True(connection.IsLimited);
            await dialer.Host.DisconnectAsync(node.Host.PeerId, Ct());
        }
    }

    [Fact]
    public async Task ReservationIsRefreshedBeforeItExpires()
    {
        var relay = await StartAsync(o =>
        {
            o.Enabled = true;
            o.AllowPrivateAddresses = true;
            o.ReservationTtl = TimeSpan.FromSeconds(40);
        });
        var listener = await StartAsync(client: o =>
        {
            o.StaticRelays.Add(relay.Address);
            o.RefreshMargin = TimeSpan.FromSeconds(38); // due 2 s after each reservation
            o.MinReservationLifetime = TimeSpan.FromSeconds(1);
        });
        await Poll.UntilAsync(() => _metrics.Sum("p2pstack_relay_client_reservations_total", "result=ok") >= 3 ? "refreshed" : null);
        Assert.Equal(1, relay.Get<RelayService>().ReservationCount);
    }

    [Fact]
    public async Task StopRequestsFromPeersWeHoldNoReservationOnAreRefused()
    {
        var stranger = await StartAsync();
        var target = await StartAsync();
        await stranger.Host.DialAsync(target.Address, Ct());
        var stream = await stranger.Host.OpenStreamAsync(target.Host.PeerId, [RelayProtocol.Stop], Ct());
        await using (stream)
        {
            await ProtobufFraming.WriteAsync(stream.Output, new StopMessage
            {
                Type = StopMessage.Types.Type.Connect,
                Peer = new Peer { Id = Google.Protobuf.ByteString.CopyFrom(stranger.Host.PeerId.Bytes.Span) },
            }, Ct());
            var answer = await ProtobufFraming.ReadAsync(stream.Input, StopMessage.Parser, 4096, (r, e) => new RelayFormatException(r, e), Ct());
            Assert.Equal(Status.PermissionDenied, answer.Status);
        }
        Assert.Equal(1, _metrics.Sum("p2pstack_relay_client_errors_total", "kind=unexpected_stop"));
    }

    [Fact]
    public async Task ARelayThatNeverAnswersIsTheClientsRequestTimeoutNamedAndCountedAsATimeout()
    {
        using var hostMetrics = new MetricCapture("P2PStack.Host"); // HostMetrics.MeterName, internal
        // The "relay" takes the hop stream and keeps silent: the CONNECT's answer never comes.
        var relay = await StartAsync();
        using var silence = relay.Host.AddHandler(new SilentHop());
        var dialer = await StartAsync(client: o => o.RequestTimeout = TimeSpan.FromMilliseconds(500));
        var target = await StartAsync();
        var circuit = relay.Address.Encapsulate($"/p2p-circuit/p2p/{target.Host.PeerId}");

        var error = await Assert.ThrowsAsync<TimeoutException>(async () =>
            await dialer.Host.DialAsync(circuit, new DialOptions { AllowLimited = true }, Ct()));
        Assert.Contains("RelayClientOptions.RequestTimeout (0.5 s)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("DialTimeout", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, hostMetrics.Sum("p2pstack_dial_failures_total", "transport=p2p-circuit", "reason=timeout"));
        Assert.Equal(0, hostMetrics.Sum("p2pstack_dial_failures_total", "transport=p2p-circuit", "reason=cancelled"));
    }

    private sealed class SilentHop : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols => [RelayProtocol.Hop];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                try
                {
                    await Task.Delay(Timeout, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    // the host stops
                }
            }
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var peer in Enumerable.Reverse(_peers)) await peer.DisposeAsync();
        _metrics.Dispose();
    }
}
