using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Privacy.ShadowAddresses.Connections;
using P2PStack.Privacy.ShadowAddresses.Service;
using P2PStack.Testing;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>
/// Connections to shadow addresses end to end (docs/specs/shadow.md, section 7) on the memory transport: a DHT, five
/// onion relays, a service publishing an address with registered introduction points, and a client that resolves it,
/// is joined to the service through an introduction point and pings it. What each party could learn is checked from
/// relays that log everything.
/// </summary>
public class ShadowConnectionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_client_pings_a_shadow_address_and_nobody_learns_who_is_on_the_other_side()
    {
        await using var net = await ShadowNetwork.StartAsync();
        var (client, service) = (net.Client, net.Service);
        var address = service.Get<ShadowAddressPool>().Generate();
        // (Within the last quarter of a period the next period's descriptor is published too.)
        var publication = (await service.Get<ShadowPublisher>().PublishDueAsync(CancellationToken.None).WaitAsync(Patience))
            .Single(p => p.Period == service.Directory.CurrentPeriod.Number);
        Assert.Null(publication.Error);
        Assert.Equal(1, publication.IntroductionPoints);
        var introPoint = Assert.Single(service.Get<ShadowIntroductions>().Registrations).Relay;
        client.Get<Microsoft.Extensions.Options.IOptions<OnionOptions>>().Value.Client.ExcludedRelays.AddRange(
            net.Relays.Take(3).Select(r => r.Host.PeerId).Where(p => !p.Equals(introPoint)));

        var connection = await client.Get<ShadowConnector>().ConnectAsync(address, CancellationToken.None).WaitAsync(Patience);
        var serviceIdentity = service.Get<ShadowAddressPool>().KeyOf(address)!.ServiceIdentity.PeerId;
        // The client reached the address's service identity, under an ephemeral identity of its own.
        Assert.Equal(serviceIdentity, connection.RemotePeer);
        Assert.NotEqual(service.Host.PeerId, connection.RemotePeer);
        Assert.NotEqual(client.Host.PeerId, connection.LocalPeer);
        Assert.True(connection.IsAnonymous);
        // Padded by default (both ends run the padding module).
        Assert.Contains(P2PStack.Privacy.Padding.PaddingFilter.Id, connection.Filters);
        await using (var ping = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Equal(3, (await client.Get<PingService>().PingAsync(ping, 3, CancellationToken.None).WaitAsync(Patience)).Count);
        // Any protocol that serves anonymous connections: what the service sees of its caller.
        await using (var who = await connection.OpenStreamAsync([WhoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(Patience))
        {
            await who.Output.WriteAsync(new byte[] { 1 });
            await who.Output.CompleteAsync();
            await who.Input.ReadAsync().AsTask().WaitAsync(Patience);
        }
        var seen = Assert.Single(service.Get<WhoHandler>().Seen);
        Assert.Equal(serviceIdentity, seen.LocalPeer);
        Assert.Equal(connection.LocalPeer, seen.RemotePeer);
        Assert.NotEqual(client.Host.PeerId, seen.RemotePeer);
        Assert.DoesNotContain(client.Host.ListenAddresses, a => seen.RemoteAddress.ToString().Contains(a.ToString(), StringComparison.Ordinal));
        Assert.Equal(1, service.Get<ShadowAddressPool>().List().Single(e => e.Address.Equals(address)).Uses);

        // Nothing the client got over the connection or in the descriptor names the service's node: not the connection's
        // remote, not the descriptor, not identify on the connection. (This network reaches the directory directly, see
        // ShadowNetwork; over circuits, where storing nodes do not learn the publisher either: DirectoryOverCircuitsTests.)
        Assert.DoesNotContain(service.Host.PeerId.ToString(), connection.RemoteAddress.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(service.Host.ListenAddresses, a => connection.RemoteAddress.ToString().Contains(a.ToString(), StringComparison.Ordinal));
        var descriptor = await client.Directory.ResolveAsync(address, CancellationToken.None).WaitAsync(Patience);
        Assert.DoesNotContain(descriptor.IntroductionPoints, p => p.Relay.Equals(service.Host.PeerId));
        Assert.Equal(serviceIdentity, descriptor.Service);
        Assert.Empty(client.Host.PeerStore.GetAddresses(serviceIdentity));

        // The relays of the service's circuit (its directory knows only relays 0-2) never see the client's node: not as a
        // neighbour, not its peer id, not its ephemeral one, in no cell they can read. The client's relays (3, 4) never see
        // the service. The introduction point sees neither.
        var clientIds = new[] { client.Host.PeerId.Bytes.ToArray(), connection.LocalPeer.Bytes.ToArray() };
        var serviceIds = new[] { service.Host.PeerId.Bytes.ToArray(), serviceIdentity.Bytes.ToArray() };
        for (int i = 0; i < net.Relays.Count; i++)
        {
            var observer = net.Observers[i];
            bool isIntro = net.Relays[i].Host.PeerId.Equals(introPoint);
            if (i <= 2 || isIntro)
            {
                Assert.DoesNotContain(client.Host.PeerId, observer.Previous);
                Assert.All(clientIds, id => Assert.False(observer.SawBytes(id)));
            }
            if (i >= 3 || isIntro)
            {
                Assert.DoesNotContain(service.Host.PeerId, observer.Previous);
                Assert.All(serviceIds, id => Assert.False(observer.SawBytes(id)));
            }
        }
        var intro = net.Observers[net.Relays.FindIndex(r => r.Host.PeerId.Equals(introPoint))];
        Assert.Contains(RelayCommand.EstablishIntro, intro.ReadCommands);
        Assert.Contains(RelayCommand.Introduce, intro.ReadCommands);
        Assert.True(intro.Previous.All(p => net.Relays.Any(r => r.Host.PeerId.Equals(p))), "the introduction point's neighbours are relays only");
        await connection.CloseAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Introduction_points_are_renewed_at_the_end_of_their_lifetime_without_a_gap()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var lifetime = TimeSpan.FromSeconds(30);
        var grace = TimeSpan.FromSeconds(20);
        await using var net = await ShadowNetwork.StartAsync(clock, o =>
        {
            o.IntroductionLifetime = lifetime;
            o.IntroductionRetireGrace = grace;
        });
        var (client, service) = (net.Client, net.Service);
        var address = service.Get<ShadowAddressPool>().Generate();
        var publisher = service.Get<ShadowPublisher>();
        var introductions = service.Get<ShadowIntroductions>();
        Assert.All(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience), p => Assert.Null(p.Error));
        var old = Assert.Single((await client.Directory.ResolveAsync(address, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints);
        Assert.Empty(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience)); // nothing due before the lifetime ends

        // The lifetime ends: the registration retires (still introducing) and the publisher is told to publish new points.
        clock.Advance(lifetime);
        await WaitUntilAsync(() => introductions.Retiring.Count == 1);
        Assert.Empty(introductions.Registrations);
        Assert.Equal(1, service.Get<ShadowMetrics>().IntroductionRotations);
        // (The publisher's loop runs this at once, woken by the change; here the test runs the round.)
        var republished = (await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience))
            .Single(p => p.Period == service.Directory.CurrentPeriod.Number);
        Assert.Null(republished.Error);
        var renewed = Assert.Single((await client.Directory.ResolveAsync(address, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints);
        Assert.False(renewed.AuthKey.Span.SequenceEqual(old.AuthKey.Span), "the new descriptor lists a new registration");
        Assert.Single(introductions.Registrations);

        // No gap: a client that resolved the old descriptor just before still gets through the old point, and new
        // clients through the new one.
        await using (var viaOld = await client.Get<OnionClient>().IntroduceAsync(old.Relay, old.AuthKey, Multiaddr.Parse("/memory/1"),
            CancellationToken.None).WaitAsync(Patience))
        {
        }
        var connection = await client.Get<ShadowConnector>().ConnectAsync(address, CancellationToken.None).WaitAsync(Patience);
        await using (var ping = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Single(await client.Get<PingService>().PingAsync(ping, 1, CancellationToken.None).WaitAsync(Patience));
        await connection.CloseAsync(CancellationToken.None);

        // After the grace the retired registration closes and its point refuses introductions.
        clock.Advance(grace);
        await WaitUntilAsync(() => introductions.Retiring.Count == 0 && net.Relays.Sum(r => r.Get<OnionRelay>().IntroductionPointCount) == 1);
        var refused = await Assert.ThrowsAsync<OnionStreamException>(() => client.Get<OnionClient>()
            .IntroduceAsync(old.Relay, old.AuthKey, Multiaddr.Parse("/memory/1"), CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(EndReason.NoIntroduction, refused.Reason);
    }

    [Fact]
    public async Task A_rotated_address_connects_during_its_grace_and_is_retired_after_it()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        await using var net = await ShadowNetwork.StartAsync(clock);
        var (client, service) = (net.Client, net.Service);
        var pool = service.Get<ShadowAddressPool>();
        var publisher = service.Get<ShadowPublisher>();
        var old = pool.Generate();
        Assert.All(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience), p => Assert.Null(p.Error));
        var fresh = pool.Rotate(old);
        Assert.All(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience), p => Assert.Null(p.Error));
        var retiresAt = pool.List().Single(e => e.Address.Equals(old)).RetiresAt!.Value;

        // During the grace period: the old address resolves and connects.
        var connection = await client.Get<ShadowConnector>().ConnectAsync(old, CancellationToken.None).WaitAsync(Patience);
        await using (var ping = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Single(await client.Get<PingService>().PingAsync(ping, 1, CancellationToken.None).WaitAsync(Patience));
        await connection.CloseAsync(CancellationToken.None);

        // At the retirement moment the service supersedes its descriptor: the address no longer resolves (not an
        // unreachable introduction point: no descriptor to use at all).
        clock.Advance(retiresAt - clock.GetUtcNow());
        var round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
        Assert.Contains(round, p => p is { Retirement: true, StoredOn: > 0 } && p.Address.Equals(old));
        var refused = await Assert.ThrowsAsync<ShadowConnectException>(() =>
            client.Get<ShadowConnector>().ConnectAsync(old, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal("not_found", refused.Result);
        Assert.Contains("retired", refused.InnerException!.Message);
        Assert.Equal(1, client.Get<ShadowMetrics>().RetiredResolutions);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var budget = new CancellationTokenSource(Patience);
        while (!condition()) await Task.Delay(10, budget.Token);
    }

    [Fact]
    public async Task Unknown_and_unreachable_addresses_fail_with_typed_errors()
    {
        await using var net = await ShadowNetwork.StartAsync();
        var connector = net.Client.Get<ShadowConnector>();
        // Nobody published it.
        var missing = await Assert.ThrowsAsync<ShadowConnectException>(() =>
            connector.ConnectAsync(ShadowKey.Generate().Address, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal("not_found", missing.Result);

        // Published, but the service's registrations are gone (its circuits closed): the introduction point refuses.
        var pool = net.Service.Get<ShadowAddressPool>();
        var address = pool.Generate();
        Assert.All(await net.Service.Get<ShadowPublisher>().PublishDueAsync(CancellationToken.None).WaitAsync(Patience), p => Assert.Null(p.Error));
        await net.Service.Get<ShadowIntroductions>().DisposeAsync();
        var unreachable = await Assert.ThrowsAsync<ShadowConnectException>(() => connector.ConnectAsync(address, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal("unreachable", unreachable.Result);
        Assert.Contains("no service is registered", unreachable.Message);
    }

    [Fact]
    public async Task Forged_expired_and_wrong_period_descriptors_from_a_lying_dht_node_are_refused_and_counted()
    {
        var key = ShadowKey.Generate();
        var period = ShadowPeriod.At(DateTimeOffset.UtcNow, ShadowDirectoryTests.PeriodLength);
        var content = ShadowDescriptorTests.Content(1);
        var good = ShadowDescriptor.Create(key, period, 1, period.End + TimeSpan.FromMinutes(15), content).Encoded;
        var forged = (byte[])good.Clone();
        forged[^1] ^= 1; // the signature no longer verifies
        // Each lie, and the reason its refusal is counted under (a record of another period served under this period's
        // key is refused for that key, which is not derived from its own blinded key).
        var reasons = new Dictionary<string, string> { ["forged"] = "signature", ["expired"] = "expired", ["wrong_period"] = "wrong_key" };
        var lies = new Dictionary<string, byte[]>
        {
            ["forged"] = forged,
            ["expired"] = ShadowDescriptor.Create(key, period, 1, DateTimeOffset.UtcNow - TimeSpan.FromSeconds(5), content).Encoded,
            // A real descriptor of the previous period, served under this period's key.
            ["wrong_period"] = ShadowDescriptor.Create(key, period.Previous, 1, period.End, content).Encoded,
        };
        var memory = new MemoryNetwork();
        byte[]? served = null;
        var liar = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], null, p2p =>
            p2p.Services.Replace(ServiceDescriptor.Singleton<IDhtRecordStore>(new LyingStore(() => served))));
        var client = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], liar.Address, p2p =>
        {
            p2p.AddOnion(o => o.Client.PreemptiveCircuits = 0);
            p2p.AddShadowConnections();
            // The liar serves its record under every key: near a period boundary (by the real clock) the adjacent-period
            // lookup would accept the previous period's descriptor as what it is, so the window is off here.
            // The client reaches the liar directly: this network has no relays to build circuits through (the directory over
            // circuits is DirectoryOverCircuitsTests').
            p2p.Services.Configure<ShadowOptions>(o =>
            {
                o.AdjacentPeriodWindow = TimeSpan.Zero;
                o.DirectoryAccess = ShadowDirectoryAccess.Direct;
            });
        });
        try
        {
            var metrics = client.Get<ShadowMetrics>();
            foreach (var (kind, record) in lies)
            {
                served = record;
                long refusedBefore = metrics.DescriptorsRefused;
                long reasonBefore = metrics.DescriptorsRefusedByReason.GetValueOrDefault(reasons[kind]);
                var error = await Assert.ThrowsAsync<ShadowConnectException>(() =>
                    client.Get<ShadowConnector>().ConnectAsync(key.Address, CancellationToken.None).WaitAsync(Patience));
                // The DHT client drops the record it cannot validate, so the address does not resolve; counted as refused.
                Assert.Contains(error.Result, new[] { "not_found", "invalid" });
                Assert.True(metrics.DescriptorsRefused > refusedBefore, $"the {kind} descriptor was not counted as refused");
                Assert.True(metrics.DescriptorsRefusedByReason.GetValueOrDefault(reasons[kind]) > reasonBefore,
                    $"the {kind} descriptor was not counted under {reasons[kind]}");
            }
            // The same node serving the genuine record: it resolves (what failed above was the record, nothing else).
            served = good;
            var resolved = await client.Directory.ResolveAsync(key.Address, CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(key.ServiceIdentity.PeerId, resolved.Service);
        }
        finally
        {
            await client.Get<OnionClient>().DisposeAsync();
            await client.DisposeAsync();
            await liar.DisposeAsync();
        }
    }

    /// <summary>A DHT node that answers every GET with the record the test chose.</summary>
    private sealed class LyingStore(Func<byte[]?> record) : IDhtRecordStore
    {
        public ValueTask<DhtRecord?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken) =>
            ValueTask.FromResult(record() is { } value ? new DhtRecord(key.ToArray(), value, DateTimeOffset.UtcNow) : null);

        public ValueTask PutAsync(DhtRecord record, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask<bool> RemoveAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken) => ValueTask.FromResult(false);

        public ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken) => ValueTask.FromResult(0);

        public ValueTask<int> CountAsync(CancellationToken cancellationToken) => ValueTask.FromResult(0);
    }

    /// <summary>Records what the service sees of each connection a stream arrives on.</summary>
    internal sealed class WhoHandler : IProtocolHandler
    {
        public const string Protocol = "/test/who/1.0.0";

        public ConcurrentQueue<(PeerId LocalPeer, PeerId RemotePeer, Multiaddr RemoteAddress)> Seen { get; } = new();

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            Seen.Enqueue((stream.Connection.LocalPeer, stream.Connection.RemotePeer, stream.Connection.RemoteAddress));
            var read = await stream.Input.ReadAsync(cancellationToken);
            stream.Input.AdvanceTo(read.Buffer.End);
            await stream.Output.WriteAsync(new byte[] { 2 }, cancellationToken);
            await stream.Output.CompleteAsync();
        }
    }

    /// <summary>A relay that logs everything: neighbours and every cell body it can read.</summary>
    internal sealed class Recorder : IRelayObserver
    {
        private readonly Lock _gate = new();

        public List<PeerId> Previous { get; } = [];

        public List<RelayCommand> ReadCommands { get; } = [];

        private readonly List<byte[]> _bodies = [];

        public void CircuitOpened(object circuit, PeerId previous)
        {
            lock (_gate) Previous.Add(previous);
        }

        public void CircuitExtended(object circuit, PeerId next)
        {
        }

        public void StreamOpened(object circuit, PeerId destination)
        {
        }

        public void Cell(object circuit, bool forward, RelayCommand? command, ReadOnlySpan<byte> body)
        {
            lock (_gate)
            {
                if (command is { } c) ReadCommands.Add(c);
                _bodies.Add(body.ToArray());
            }
        }

        public bool SawBytes(byte[] needle)
        {
            lock (_gate) return _bodies.Any(b => b.AsSpan().IndexOf(needle) >= 0);
        }
    }

    /// <summary>Five relays, a service and a client, all DHT peers; the service's onion directory knows relays 0-2 (so
    /// its circuits and introduction points are there), the client's all five.</summary>
    private sealed class ShadowNetwork : IAsyncDisposable
    {
        public List<ShadowDirectoryTests.ShadowPeer> Relays { get; } = [];

        public List<Recorder> Observers { get; } = [];

        public ShadowDirectoryTests.ShadowPeer Service { get; private set; } = null!;

        public ShadowDirectoryTests.ShadowPeer Client { get; private set; } = null!;

        private readonly List<ShadowDirectoryTests.ShadowPeer> _all = [];

        /// <param name="serviceTime">The service's clock (its publisher, introductions and onion client).</param>
        public static async Task<ShadowNetwork> StartAsync(TimeProvider? serviceTime = null, Action<ShadowPublisherOptions>? publisher = null)
        {
            var net = new ShadowNetwork();
            var memory = new MemoryNetwork();
            try
            {
                Multiaddr? bootstrap = null;
                for (int i = 0; i < 5; i++)
                {
                    var relay = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], bootstrap, p2p => Onion(p2p, relay: true));
                    bootstrap ??= relay.Address;
                    net.Relays.Add(relay);
                    var recorder = new Recorder();
                    relay.Get<OnionRelay>().Observer = recorder;
                    net.Observers.Add(recorder);
                }
                net.Service = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, serviceTime ?? TimeProvider.System, [], bootstrap, p2p =>
                {
                    Onion(p2p, relay: false);
                    p2p.Services.AddSingleton<WhoHandler>();
                    p2p.AddProtocol<WhoHandler>();
                    p2p.ConfigureHost(o => o.AnonymousConnectionProtocols.Add(WhoHandler.Protocol));
                    p2p.AddShadowService(o =>
                    {
                        o.IntroductionPoints = 1;
                        o.PublicationJitter = TimeSpan.Zero; // these tests publish when they ask (ShadowPublisherTests covers the delays)
                        publisher?.Invoke(o);
                    });
                });
                net.Client = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], bootstrap, p2p => Onion(p2p, relay: false));
                net._all.AddRange([.. net.Relays, net.Service, net.Client]);
                foreach (var peer in net._all) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
                // Relays run the onion module (the relay protocol); the service and the client only what they use, so that
                // their directories stay as the test sets them: the service accepts circuit connections (introduced ones).
                foreach (var relay in net.Relays) await relay.Get<OnionHostedService>().StartAsync(CancellationToken.None);
                net.Service.Host.AddHandler(net.Service.Get<P2PStack.Privacy.Onion.Transport.DestinationHandler>());
                await net.Service.Host.ListenAsync(P2PStack.Privacy.Onion.Transport.OnionAddress.Listen, CancellationToken.None);
                for (int i = 0; i < 3; i++) Assert.NotNull(net.Service.Get<OnionClient>().Directory.TryAdd(net.Relays[i].Get<OnionRelay>().SignedDescriptor()));
                // The client knows every relay (it needs the introduction point's onion key); a test that checks what the
                // service's relays see excludes the other two of them from the client's paths.
                for (int i = 0; i < 5; i++) Assert.NotNull(net.Client.Get<OnionClient>().Directory.TryAdd(net.Relays[i].Get<OnionRelay>().SignedDescriptor()));
            }
            catch
            {
                await net.DisposeAsync();
                throw;
            }
            return net;
        }

        private static void Onion(IP2PBuilder p2p, bool relay)
        {
            p2p.AddPing();
            p2p.AddOnion(o =>
            {
                o.Relay.Enabled = relay;
                o.EnableClient = !relay;
                o.Client.PreemptiveCircuits = 0;
                o.Client.Diversity.Enabled = false;
                o.Relay.AllowPrivateAddresses = true;
            });
            p2p.AddShadowConnections();
            p2p.AddPadding();
            // The relays are split between the service (0-2) and the client (3, 4 and the introduction point) so that the
            // tests can tell who saw what; with so few, directory circuits of the two would reach disjoint DHT nodes.
            p2p.Services.Configure<ShadowOptions>(o => o.DirectoryAccess = ShadowDirectoryAccess.Direct);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var peer in Enumerable.Reverse(_all))
            {
                try
                {
                    if (Relays.Contains(peer)) await peer.Get<OnionHostedService>().StopAsync(CancellationToken.None);
                    else await peer.Get<OnionClient>().DisposeAsync();
                    await peer.DisposeAsync();
                }
                catch (Exception)
                {
                    // best effort
                }
            }
        }
    }
}
