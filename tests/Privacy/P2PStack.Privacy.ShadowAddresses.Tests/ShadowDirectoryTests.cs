using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>
/// Publication and resolution over a real DHT (12 hosts on the memory transport, Noise, yamux, Kademlia), with every
/// record each DHT node stores recorded: what the storing nodes see across two periods and a rotation.
/// </summary>
public class ShadowDirectoryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    internal static readonly TimeSpan PeriodLength = TimeSpan.FromHours(1);

    [Fact]
    public async Task Storing_nodes_see_unrelated_keys_per_period_and_nothing_of_the_address_or_the_introduction_points()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + 120));
        var stored = new ConcurrentBag<DhtRecord>();
        var network = new MemoryNetwork();
        var peers = new List<ShadowPeer>();
        try
        {
            var first = await ShadowPeer.StartAsync(network, time, stored, null);
            peers.Add(first);
            for (int i = 1; i < 12; i++) peers.Add(await ShadowPeer.StartAsync(network, time, stored, first.Address));
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            var service = peers[3];
            var client = peers[^1];

            var key = ShadowKey.Generate();
            var content = ShadowDescriptorTests.Content(3);
            var period1 = service.Directory.CurrentPeriod;
            var (descriptor1, storedOn) = await service.Directory.PublishAsync(key, content, CancellationToken.None).WaitAsync(Patience);
            Assert.True(storedOn >= 5, $"stored on {storedOn} peers");
            var resolved = await client.Directory.ResolveAsync(key.Address, CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(content.IntroductionPoints.Select(p => p.Relay), resolved.IntroductionPoints.Select(p => p.Relay));

            // The next period: a new blinded key, a new DHT key, the old descriptor no longer what clients ask for.
            time.Now = period1.End + TimeSpan.FromMinutes(1);
            var (descriptor2, _) = await service.Directory.PublishAsync(key, content, CancellationToken.None).WaitAsync(Patience);
            Assert.NotEqual(period1, descriptor2.Period);
            resolved = await client.Directory.ResolveAsync(key.Address, CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(3, resolved.IntroductionPoints.Count);
            Assert.Equal(2, client.Get<ShadowMetrics>().Resolved);

            // Rotation: a new address, published in the same period.
            var rotated = ShadowKey.Generate();
            var (descriptor3, _) = await service.Directory.PublishAsync(rotated, content, CancellationToken.None).WaitAsync(Patience);

            var shadowRecords = stored.Where(r => r.Key.AsSpan().StartsWith("/shadow/"u8)).ToList();
            Assert.NotEmpty(shadowRecords);
            // Storing nodes see three unrelated keys: the blinded keys, none equal to an address key.
            var keys = shadowRecords.Select(r => Convert.ToHexString(r.Key)).Distinct().ToList();
            Assert.Equal(3, keys.Count);
            byte[][] secrets =
            [
                key.Address.PublicKey.ToArray(),
                rotated.Address.PublicKey.ToArray(),
                service.Host.PeerId.ToBytes(),
                .. content.IntroductionPoints.Select(p => p.Relay.ToBytes()),
                .. content.IntroductionPoints.Select(p => p.Addresses[0].ToBytes()),
                .. content.IntroductionPoints.Select(p => p.AuthKey.ToArray()),
            ];
            foreach (var record in shadowRecords)
            {
                foreach (var secret in secrets)
                {
                    Assert.False(Contains(record.Key, secret), "a stored key reveals the address or the introduction points");
                    Assert.False(Contains(record.Value, secret), "a stored value reveals the address or the introduction points");
                }
            }
            // Neither period's record names the other's blinded key; the rotated address's record names nothing of
            // the old address's records.
            Assert.False(Contains(descriptor2.Encoded, descriptor1.BlindedKey));
            Assert.False(Contains(descriptor1.Encoded, descriptor2.BlindedKey));
            foreach (var old in new[] { descriptor1, descriptor2 })
            {
                Assert.False(Contains(descriptor3.Encoded, old.BlindedKey));
                Assert.False(Contains(descriptor3.Encoded, old.Encoded.AsSpan(old.Encoded.Length - 64).ToArray()));
            }

            // An address nobody published does not resolve, and is counted.
            await Assert.ThrowsAsync<DhtNotFoundException>(() =>
                client.Directory.ResolveAsync(ShadowKey.Generate().Address, CancellationToken.None).WaitAsync(Patience));
            Assert.Equal(1, client.Get<ShadowMetrics>().ResolveFailures);
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_rotated_address_resolves_during_its_grace_period_and_then_stops()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + 60));
        var network = new MemoryNetwork();
        var peers = new List<ShadowPeer>();
        try
        {
            var first = await ShadowPeer.StartAsync(network, time, [], null);
            peers.Add(first);
            for (int i = 1; i < 6; i++) peers.Add(await ShadowPeer.StartAsync(network, time, [], first.Address));
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            var service = peers[2];
            var client = peers[^1];
            var pool = service.Get<ShadowAddressPool>();
            var content = ShadowDescriptorTests.Content(2);

            async Task PublishAllAsync()
            {
                foreach (var (key, notAfter) in pool.Publishable())
                    await service.Directory.PublishAsync(key, content, CancellationToken.None, notAfter: notAfter).WaitAsync(Patience);
            }

            var old = pool.Generate();
            var fresh = pool.Rotate(old);
            await PublishAllAsync();
            Assert.Equal(2, (await client.Directory.ResolveAsync(old, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            Assert.Equal(2, (await client.Directory.ResolveAsync(fresh, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            Assert.Equal(1, service.Get<ShadowMetrics>().Rotations);

            // Grace period over (10 minutes by default, plus its random extra of up to 2.5): the old address leaves the pool
            // and its descriptor has expired.
            var retiresAt = pool.List().Single(e => e.Address.Equals(old)).RetiresAt!.Value;
            Assert.InRange(retiresAt, time.Now + TimeSpan.FromMinutes(10), time.Now + TimeSpan.FromMinutes(12.5));
            time.Now = retiresAt;
            await PublishAllAsync();
            Assert.DoesNotContain(pool.List(), e => e.Address.Equals(old));
            // DHT nodes refuse the expired record (not found), or the client refuses what a node still returns.
            var gone = await Assert.ThrowsAnyAsync<Exception>(() => client.Directory.ResolveAsync(old, CancellationToken.None).WaitAsync(Patience));
            Assert.True(gone is DhtNotFoundException or ShadowFormatException, gone.ToString());
            Assert.Equal(2, (await client.Directory.ResolveAsync(fresh, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_client_whose_clock_is_skewed_across_a_period_boundary_resolves_through_the_adjacent_period()
    {
        // The service and the DHT nodes share one clock; each client has its own, skewed against it.
        var period = ShadowPeriod.At(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000), PeriodLength);
        var time = new ManualTime(period.End - TimeSpan.FromMinutes(20));
        var network = new MemoryNetwork();
        var peers = new List<ShadowPeer>();
        try
        {
            var first = await ShadowPeer.StartAsync(network, time, [], null);
            peers.Add(first);
            for (int i = 1; i < 5; i++) peers.Add(await ShadowPeer.StartAsync(network, time, [], first.Address));
            var ahead = new ManualTime(period.End + TimeSpan.FromMinutes(5));
            var behind = new ManualTime(period.End - TimeSpan.FromMinutes(3));
            var far = new ManualTime(period.Start + TimeSpan.FromMinutes(30));
            foreach (var clock in new[] { ahead, behind, far }) peers.Add(await ShadowPeer.StartAsync(network, clock, [], first.Address));
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            var (service, clientAhead, clientBehind, clientFar) = (peers[2], peers[^3], peers[^2], peers[^1]);
            var content = ShadowDescriptorTests.Content(2);

            // 20 minutes before the boundary the service publishes this period only; a client 25 minutes ahead (5 past
            // the boundary by its clock) asks for the next period, finds nothing, and takes this one.
            var early = ShadowKey.Generate();
            await service.Directory.PublishAsync(early, content, CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(2, (await clientAhead.Directory.ResolveAsync(early.Address, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);

            // Past the boundary, an address the service publishes for the new period only: a client 3 minutes before the
            // boundary by its clock finds nothing in its period and takes the next one.
            time.Now = period.End + TimeSpan.FromMinutes(2);
            var late = ShadowKey.Generate();
            var (descriptor, _) = await service.Directory.PublishAsync(late, content, CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(period.Next, descriptor.Period);
            Assert.Equal(2, (await clientBehind.Directory.ResolveAsync(late.Address, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            Assert.Equal(0, clientBehind.Get<ShadowMetrics>().ResolveFailures);

            // Far from a boundary no other period is tried: a clock off by half a period does not resolve.
            await Assert.ThrowsAsync<DhtNotFoundException>(() =>
                clientFar.Directory.ResolveAsync(late.Address, CancellationToken.None).WaitAsync(Patience));
            Assert.Equal(1, clientFar.Get<ShadowMetrics>().ResolveFailures);
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    internal sealed class ShadowPeer : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        private ShadowPeer(ServiceProvider services)
        {
            _services = services;
            Host = services.GetRequiredService<PeerHost>();
            Dht = services.GetRequiredService<KademliaDht>();
            Directory = services.GetRequiredService<ShadowDirectory>();
        }

        public PeerHost Host { get; }

        public KademliaDht Dht { get; }

        public ShadowDirectory Directory { get; }

        public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

        public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

        public static async Task<ShadowPeer> StartAsync(MemoryNetwork network, TimeProvider time, ConcurrentBag<DhtRecord> log, Multiaddr? bootstrap,
            Action<IP2PBuilder>? extra = null)
        {
            var services = new ServiceCollection();
            services.AddSingleton(network);
            services.AddSingleton(time);
            services.AddSingleton<IDhtRecordStore>(sp =>
                new RecordingStore(new InMemoryRecordStore(sp.GetRequiredService<IOptions<KademliaOptions>>().Value.RecordLimits), log));
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn("/memory/0").AddMemoryTransport().AddNoise().AddYamux().AddIdentify();
                p2p.AddKademlia(o =>
                {
                    o.RefreshInterval = TimeSpan.Zero;
                    if (bootstrap is not null) o.BootstrapPeers.Add(bootstrap);
                });
                p2p.AddShadowAddresses(o => o.PeriodLength = PeriodLength);
                extra?.Invoke(p2p);
            });
            var peer = new ShadowPeer(services.BuildServiceProvider());
            await peer.Host.StartAsync(CancellationToken.None);
            var kad = peer.Get<KademliaHostedService>();
            await kad.StartAsync(CancellationToken.None);
            if (bootstrap is not null) await kad.Bootstrap.WaitAsync(Patience);
            return peer;
        }

        public async ValueTask DisposeAsync()
        {
            await Get<KademliaHostedService>().StopAsync(CancellationToken.None);
            await Host.DisposeAsync();
            await _services.DisposeAsync();
        }
    }

    /// <summary>What a storing node sees: every record put into its store.</summary>
    private sealed class RecordingStore(IDhtRecordStore inner, ConcurrentBag<DhtRecord> log) : IDhtRecordStore
    {
        public ValueTask<DhtRecord?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);

        public ValueTask PutAsync(DhtRecord record, CancellationToken cancellationToken)
        {
            log.Add(record);
            return inner.PutAsync(record, cancellationToken);
        }

        public ValueTask<bool> RemoveAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken) => inner.RemoveAsync(key, cancellationToken);

        public ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken) =>
            inner.RemoveExpiredAsync(receivedBefore, cancellationToken);

        public ValueTask<int> CountAsync(CancellationToken cancellationToken) => inner.CountAsync(cancellationToken);
    }
}
