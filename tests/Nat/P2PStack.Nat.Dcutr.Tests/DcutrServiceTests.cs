using P2PStack.Addressing;
using P2PStack.Nat.Relay;
using P2PStack.Nat.Testing;
using P2PStack.Network;

namespace P2PStack.Nat.Dcutr.Tests;

/// <summary>
/// DCUtR between real hosts on loopback, through a relay: the unilateral direct dial when the dialer is reachable, and
/// the CONNECT/SYNC rounds with a TCP simultaneous open when it announces no address (but has one it was observed at).
/// The real NATs are in the namespace tests.
/// </summary>
// IAsyncLifetime, not IAsyncDisposable: xUnit 2 never calls IAsyncDisposable.DisposeAsync on a test class, so what
// the test started (hosts, processes, metric listeners) would outlive it.
public sealed class DcutrServiceTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly List<TestPeer> _peers = [];
    private readonly MetricCapture _metrics = new(DcutrMetrics.MeterName);

    private static CancellationToken Ct() => new CancellationTokenSource(Timeout).Token;

    private async Task<TestPeer> StartAsync(Action<IP2PBuilder> configure)
    {
        var peer = await TestPeer.StartAsync(p =>
        {
            p.AddTcpTransport(o => o.ReusePort = true);
            p.ConfigureHost(o => o.Addresses.ObservedAddressThreshold = 1);
            configure(p);
        });
        _peers.Add(peer);
        return peer;
    }

    private async Task<(TestPeer Relay, TestPeer Listener, Multiaddr Circuit)> ListenerBehindRelayAsync(
        Action<IP2PBuilder>? configureListener = null, Action<DcutrOptions>? dcutr = null)
    {
        var relay = await StartAsync(p => p.AddCircuitRelay(o =>
        {
            o.Enabled = true;
            o.AllowPrivateAddresses = true;
        }));
        var listener = await StartAsync(p =>
        {
            p.AddCircuitRelay(configureClient: o => o.StaticRelays.Add(relay.Address));
            p.AddDcutr(o =>
            {
                o.AllowPrivateAddresses = true;
                dcutr?.Invoke(o);
            });
            configureListener?.Invoke(p);
        });
        var circuit = await Poll.UntilAsync(() => listener.Host.AddressManager.RelayAddresses.FirstOrDefault());
        return (relay, listener, circuit);
    }

    [Fact]
    public async Task ReachableDialerIsDialedBackDirectly()
    {
        var (_, listener, circuit) = await ListenerBehindRelayAsync();
        var dialer = await StartAsync(p => p.AddCircuitRelay().AddDcutr(o => o.AllowPrivateAddresses = true));
        var relayed = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());
        Assert.True(relayed.IsLimited);

        var result = await Poll.UntilAsync(() => listener.Get<DcutrService>().LastResult(dialer.Host.PeerId));
        Assert.True(result.Success, result.Reason);
        Assert.Equal("direct_dial", result.Reason);
        Assert.Equal(0, result.Attempts);
        // One traversal, counted by the initiator (the listener) only: direct.
        Assert.Equal(new NatTraversalCounts(1, 0, 0), listener.Get<NatTraversalMetrics>().Counts("dcutr"));
        Assert.Equal(new NatTraversalCounts(0, 0, 0), dialer.Get<NatTraversalMetrics>().Counts("dcutr"));
        await Poll.UntilAsync(() => dialer.Host.GetConnections(listener.Host.PeerId).FirstOrDefault(c => c.IsDirect));
        await relayed.Completion.WaitAsync(Timeout); // closed after the grace period

        // Another relayed connection while the direct one exists: DCUtR has nothing to do, and no traversal is counted.
        await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"),
            new DialOptions { AllowLimited = true, ForceNewConnection = true }, Ct());
        var again = await Poll.UntilAsync(() => listener.Get<DcutrService>().LastResult(dialer.Host.PeerId) is { } last
            && !ReferenceEquals(last, result) ? last : null);
        Assert.Equal("direct_dial", again.Reason);
        Assert.Equal(new NatTraversalCounts(1, 0, 0), listener.Get<NatTraversalMetrics>().Counts("dcutr"));
    }

    [Fact]
    public async Task UnannouncedDialerIsReachedByAHolePunch()
    {
        var (_, listener, circuit) = await ListenerBehindRelayAsync();
        // The dialer tells identify nothing, but the relay observed it: that observed address goes in its CONNECT.
        var dialer = await StartAsync(p =>
        {
            p.ConfigureHost(o => o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/127.0.0.1")));
            p.AddCircuitRelay().AddDcutr(o => o.AllowPrivateAddresses = true);
        });
        await dialer.Host.DialAsync(_peers[0].Address, Ct()); // the relay: identify records the observed address
        await Poll.UntilAsync(() => dialer.Host.AddressManager.ObservedAddresses.FirstOrDefault());
        var relayed = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());

        var result = await Poll.UntilAsync(() => listener.Get<DcutrService>().LastResult(dialer.Host.PeerId));
        Assert.True(result.Success, result.Reason);
        Assert.Equal("hole_punch", result.Reason);
        Assert.InRange(result.Attempts, 1, 3); // the spec's three rounds; on a loaded machine the first may miss
        var direct = await Poll.UntilAsync(() => dialer.Host.GetConnections(listener.Host.PeerId).FirstOrDefault(c => c.IsDirect));
        // The peer that received the DCUtR stream (the dialer) is the client of the direct connection.
        Assert.Equal(Direction.Outbound, direct.Direction);
        Assert.Equal(1, _metrics.Sum("p2pstack_holepunch_results_total", "result=success", "reason=hole_punch"));
        Assert.Equal(new NatTraversalCounts(1, 0, 0), listener.Get<NatTraversalMetrics>().Counts("dcutr"));
        await relayed.Completion.WaitAsync(Timeout);
    }

    [Fact]
    public async Task AnInitiatorWithoutAnAddressOfItsOwnSaysSoAndStaysRelayed()
    {
        // The listener (DCUtR's initiator) has no address to offer: it announces none, and the one its relay observed
        // is not confirmed (threshold) and not offered as a candidate. The dialer has nothing to dial in any round, so
        // its NAT never opens for the listener's dials: the result says why (it said dial_failed), and the traversal
        // ends relayed.
        var (_, listener, circuit) = await ListenerBehindRelayAsync(
            p => p.ConfigureHost(o =>
            {
                o.Addresses.ObservedAddressThreshold = 100;
                o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/127.0.0.1"));
            }),
            o =>
            {
                o.MaxObservedCandidates = 0;
                o.OwnAddressWait = TimeSpan.Zero;
                o.DialTimeout = TimeSpan.FromSeconds(2);
            });
        var dialer = await StartAsync(p =>
        {
            p.ConfigureHost(o => o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/127.0.0.1")));
            p.AddCircuitRelay().AddDcutr(o => o.AllowPrivateAddresses = true);
        });
        await dialer.Host.DialAsync(_peers[0].Address, Ct());
        await Poll.UntilAsync(() => dialer.Host.AddressManager.ObservedAddresses.FirstOrDefault());
        var relayed = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());

        var result = await Poll.UntilAsync(() => listener.Get<DcutrService>().LastResult(dialer.Host.PeerId));
        Assert.False(result.Success);
        Assert.Equal("no_own_addresses", result.Reason);
        Assert.Equal(3, result.Attempts);
        Assert.False(relayed.Completion.IsCompleted);
        Assert.Equal(1, _metrics.Sum("p2pstack_holepunch_results_total", "result=failure", "reason=no_own_addresses"));
        Assert.Equal(new NatTraversalCounts(0, 1, 0), listener.Get<NatTraversalMetrics>().Counts("dcutr"));
    }

    [Fact]
    public async Task AResponderAnsweringOutOfOrderIsAProtocolErrorAndIsCounted()
    {
        var (_, listener, circuit) = await ListenerBehindRelayAsync();
        // The dialer announces no address (no unilateral dial can succeed) and answers CONNECT with a SYNC.
        var dialer = await StartAsync(p =>
        {
            p.ConfigureHost(o => o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/127.0.0.1")));
            p.AddCircuitRelay();
        });
        using var handler = dialer.Host.AddHandler(new OutOfOrderDcutr());
        var relayed = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());

        var result = await Poll.UntilAsync(() => listener.Get<DcutrService>().LastResult(dialer.Host.PeerId));
        Assert.False(result.Success);
        Assert.Equal("protocol_error", result.Reason);
        Assert.Equal(1, _metrics.Sum("p2pstack_holepunch_results_total", "result=failure", "reason=protocol_error"));
        Assert.Equal(1, _metrics.Sum("p2pstack_holepunch_results_total"));
        // The traversal ends relayed: the relayed connection stays and works.
        Assert.Equal(new NatTraversalCounts(0, 1, 0), listener.Get<NatTraversalMetrics>().Counts("dcutr"));
        Assert.False(relayed.Completion.IsCompleted);
    }

    [Fact]
    public async Task AnInitiatorSendingOutOfOrderIsAProtocolErrorAtTheResponderAndIsCounted()
    {
        // A listener without DCUtR of its own opens a DCUtR stream to the dialer (our responder) and sends SYNC first.
        var relay = await StartAsync(p => p.AddCircuitRelay(o =>
        {
            o.Enabled = true;
            o.AllowPrivateAddresses = true;
        }));
        var listener = await StartAsync(p =>
        {
            p.ConfigureHost(o => o.LimitedConnectionProtocols.Add(DcutrProtocol.Id));
            p.AddCircuitRelay(configureClient: o => o.StaticRelays.Add(relay.Address));
        });
        var circuit = await Poll.UntilAsync(() => listener.Host.AddressManager.RelayAddresses.FirstOrDefault());
        var dialer = await StartAsync(p => p.AddCircuitRelay().AddDcutr(o => o.AllowPrivateAddresses = true));
        await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());
        var inbound = await Poll.UntilAsync(() => listener.Host.GetConnections(dialer.Host.PeerId).FirstOrDefault(c => c.IsLimited));

        var stream = await inbound.OpenStreamAsync([DcutrProtocol.Id], Ct());
        await using (stream)
        {
            await DcutrProtocol.WriteSyncAsync(stream.Output, Ct());
            var result = await Poll.UntilAsync(() => dialer.Get<DcutrService>().LastResult(listener.Host.PeerId));
            Assert.Equal(("protocol_error", 0), (result.Reason, result.Attempts));
        }
        Assert.Equal(1, _metrics.Sum("p2pstack_holepunch_results_total", "result=failure", "reason=protocol_error"));
        Assert.Equal(new NatTraversalCounts(0, 0, 0), dialer.Get<NatTraversalMetrics>().Counts("dcutr")); // no traversal of its own
    }

    /// <summary>What the silent DCUtR responder does before it stops answering.</summary>
    public enum ResponderSilence
    {
        /// <summary>Accepts the stream and never answers CONNECT.</summary>
        Accept,

        /// <summary>Answers the first CONNECT (with no address), then reads on and never answers again.</summary>
        Connect,
    }

    [Theory]
    [InlineData(ResponderSilence.Accept)]
    [InlineData(ResponderSilence.Connect)]
    public async Task AResponderStallingPastTheStreamTimeoutIsATimeoutAndStaysRelayed(ResponderSilence silence)
    {
        var (_, listener, circuit) = await ListenerBehindRelayAsync(dcutr: o =>
        {
            o.StreamTimeout = TimeSpan.FromSeconds(2);
            o.NoAddressRetryDelay = TimeSpan.FromMilliseconds(50);
        });
        // The dialer announces no address (no unilateral dial can succeed) and serves a DCUtR that stops answering.
        var dialer = await StartAsync(p =>
        {
            p.ConfigureHost(o => o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/127.0.0.1")));
            p.AddCircuitRelay();
        });
        var responder = new SilentDcutr(silence);
        using var handler = dialer.Host.AddHandler(responder);
        var relayed = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());

        var result = await Poll.UntilAsync(() => listener.Get<DcutrService>().LastResult(dialer.Host.PeerId));
        Assert.False(result.Success);
        Assert.Equal("timeout", result.Reason);
        // The round that stalled: the first, or the second after an answered one.
        Assert.Equal(silence == ResponderSilence.Accept ? 1 : 2, result.Attempts);
        Assert.Equal(1, _metrics.Sum("p2pstack_holepunch_results_total", "result=failure", "reason=timeout"));
        Assert.Equal(1, _metrics.Sum("p2pstack_holepunch_results_total"));
        // A failed hole punch over a relayed connection that still works: relayed.
        Assert.Equal(new NatTraversalCounts(0, 1, 0), listener.Get<NatTraversalMetrics>().Counts("dcutr"));
        Assert.False(relayed.Completion.IsCompleted);
        // The initiator ended the stalled stream.
        await responder.Ended.WaitAsync(Timeout);
    }

    [Fact]
    public async Task ACallerCancellingDuringAStallIsACancellationAndIsNotCounted()
    {
        // The listener (no DCUtR of its own, no announced address) serves a DCUtR that never answers; the dialer runs
        // the upgrade by hand (its relayed connection is outbound, so nothing starts one by itself) and gives up first.
        var relay = await StartAsync(p => p.AddCircuitRelay(o =>
        {
            o.Enabled = true;
            o.AllowPrivateAddresses = true;
        }));
        var listener = await StartAsync(p =>
        {
            p.ConfigureHost(o =>
            {
                o.LimitedConnectionProtocols.Add(DcutrProtocol.Id);
                o.Addresses.NoAnnounce.Add(Multiaddr.Parse("/ip4/127.0.0.1"));
            });
            p.AddCircuitRelay(configureClient: o => o.StaticRelays.Add(relay.Address));
        });
        var responder = new SilentDcutr(ResponderSilence.Accept);
        using var handler = listener.Host.AddHandler(responder);
        var circuit = await Poll.UntilAsync(() => listener.Host.AddressManager.RelayAddresses.FirstOrDefault());
        var dialer = await StartAsync(p => p.AddCircuitRelay().AddDcutr(o =>
        {
            o.AllowPrivateAddresses = true;
            o.StreamTimeout = TimeSpan.FromMinutes(10); // only the caller can end the wait
        }));
        var relayed = await dialer.Host.DialAsync(circuit.Encapsulate($"/p2p/{listener.Host.PeerId}"), new DialOptions { AllowLimited = true }, Ct());

        using var caller = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var result = await dialer.Get<DcutrService>().UpgradeAsync(relayed, caller.Token).WaitAsync(Timeout);
        Assert.False(result.Success);
        Assert.Equal("cancelled", result.Reason);
        Assert.Equal(0, _metrics.Sum("p2pstack_holepunch_results_total"));
        Assert.Equal(new NatTraversalCounts(0, 0, 0), dialer.Get<NatTraversalMetrics>().Counts("dcutr"));
    }

    /// <summary>Serves DCUtR on limited connections and stops answering (see <see cref="ResponderSilence"/>).</summary>
    private sealed class SilentDcutr(ResponderSilence silence) : IProtocolHandler
    {
        private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<string> Protocols => [DcutrProtocol.Id];

        public bool RunOnLimitedConnections => true;

        /// <summary>Completes when the initiator ended the stream (closed or reset it).</summary>
        public Task Ended => _ended.Task;

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                try
                {
                    if (silence == ResponderSilence.Connect)
                    {
                        await DcutrProtocol.ReadConnectAsync(stream.Input, cancellationToken);
                        await DcutrProtocol.WriteConnectAsync(stream.Output, [], cancellationToken);
                    }
                    // Reads (SYNC, the next CONNECT) and never answers, until the initiator ends the stream.
                    while (true)
                    {
                        var read = await stream.Input.ReadAsync(cancellationToken);
                        stream.Input.AdvanceTo(read.Buffer.End);
                        if (read.IsCompleted) break;
                    }
                }
                catch (Exception e) when (e is StreamResetException or IOException)
                {
                }
                _ended.TrySetResult();
            }
        }
    }

    /// <summary>Serves DCUtR on limited connections and answers the CONNECT with a SYNC (the wrong message).</summary>
    private sealed class OutOfOrderDcutr : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols => [DcutrProtocol.Id];

        public bool RunOnLimitedConnections => true;

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                await DcutrProtocol.ReadConnectAsync(stream.Input, cancellationToken);
                await DcutrProtocol.WriteSyncAsync(stream.Output, cancellationToken);
                await stream.Output.CompleteAsync();
                await Task.Delay(TimeSpan.FromSeconds(5), cancellationToken); // the initiator reads before the stream ends
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
