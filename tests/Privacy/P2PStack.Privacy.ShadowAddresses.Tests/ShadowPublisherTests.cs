using Microsoft.Extensions.DependencyInjection;
using P2PStack.Privacy.ShadowAddresses.Service;
using P2PStack.Protocols.Kademlia;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>The scheduled publisher over a real DHT (6 hosts on the memory transport): what it publishes when, and that
/// clients resolve what it published in each period, after a rotation and not after a revocation's expiry.</summary>
public class ShadowPublisherTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Publishes_new_and_rotated_addresses_at_once_each_period_and_ahead_of_the_next()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + 60)); // a minute into a period
        var introductions = new FixedIntroductions(ShadowDescriptorTests.Content(2));
        var network = new MemoryNetwork();
        var peers = new List<ShadowDirectoryTests.ShadowPeer>();
        try
        {
            var first = await ShadowDirectoryTests.ShadowPeer.StartAsync(network, time, [], null);
            peers.Add(first);
            for (int i = 1; i < 5; i++) peers.Add(await ShadowDirectoryTests.ShadowPeer.StartAsync(network, time, [], first.Address));
            var service = await ShadowDirectoryTests.ShadowPeer.StartAsync(network, time, [], first.Address, p2p =>
            {
                p2p.Services.AddSingleton<IShadowIntroductionSource>(introductions);
                p2p.AddShadowService(o =>
                {
                    o.RepublishInterval = TimeSpan.FromMinutes(20);
                    o.IntroductionPoints = 2;
                });
            });
            peers.Add(service);
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            var client = peers[1];
            var pool = service.Get<ShadowAddressPool>();
            var publisher = service.Get<ShadowPublisher>();

            // Nothing in the pool: nothing to publish.
            Assert.Empty(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience));
            var address = pool.Generate();
            var round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
            var only = Assert.Single(round);
            Assert.Equal(address, only.Address);
            Assert.True(only.StoredOn > 0);
            Assert.Null(only.Error);
            Assert.Equal(2, (await client.Directory.ResolveAsync(address, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            // Published and not yet due again.
            Assert.Empty(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience));
            time.Now += TimeSpan.FromMinutes(20);
            Assert.Single(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience));

            // A rotation: the new address and the old one again (its expiry now capped at the end of its grace period).
            var fresh = pool.Rotate(address);
            round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(2, round.Count);
            var old = round.Single(p => p.Address.Equals(address));
            Assert.Equal(pool.List().Single(e => e.Address.Equals(address)).RetiresAt!.Value.ToUnixTimeSeconds(), old.Expires.ToUnixTimeSeconds());
            Assert.Equal(2, (await client.Directory.ResolveAsync(fresh, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);

            // Within the overlap before the period's end: the fresh address is published for the next period too (the
            // retiring one is not: its grace period ends before). Its revoked peers are forgotten.
            var period = service.Directory.CurrentPeriod;
            time.Now = period.End - TimeSpan.FromMinutes(5);
            round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
            Assert.Contains(round, p => p.Address.Equals(fresh) && p.Period == period.Number + 1);
            Assert.DoesNotContain(round, p => p.Address.Equals(address));
            Assert.DoesNotContain(pool.List(), e => e.Address.Equals(address));
            Assert.Contains(address, introductions.Forgotten);
            // The next period: clients resolve from what was published ahead of it, before the publisher runs again.
            time.Now = period.End + TimeSpan.FromMinutes(1);
            Assert.Equal(2, (await client.Directory.ResolveAsync(fresh, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);

            // The running service publishes a generated address by itself (woken by the pool's change).
            await publisher.StartAsync(CancellationToken.None);
            var later = pool.Generate();
            var deadline = DateTime.UtcNow + Patience;
            while (publisher.LastOf(later) is not { StoredOn: > 0 })
            {
                Assert.True(DateTime.UtcNow < deadline, "the running publisher never published the new address");
                await Task.Delay(50);
            }
            Assert.Equal(2, (await client.Directory.ResolveAsync(later, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            await publisher.StopAsync(CancellationToken.None);

            // Without introduction points nothing is published, and the failure is reported for a retry.
            introductions.Unavailable = true;
            var lone = pool.Generate();
            round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
            var failed = Assert.Single(round, p => p.Address.Equals(lone));
            Assert.Equal(0, failed.StoredOn);
            Assert.NotNull(failed.Error);
            await Assert.ThrowsAsync<DhtNotFoundException>(() => client.Directory.ResolveAsync(lone, CancellationToken.None).WaitAsync(Patience));
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    private sealed class FixedIntroductions(ShadowDescriptorContent content) : IShadowIntroductionSource
    {
        public event Action<ShadowAddress>? Changed
        {
            add { }
            remove { }
        }

        public bool Unavailable { get; set; }

        public List<ShadowAddress> Forgotten { get; } = [];

        public ValueTask<ShadowDescriptorContent> GetAsync(ShadowAddress address, CancellationToken cancellationToken) =>
            Unavailable ? throw new ShadowIntroductionUnavailableException("no relay") : ValueTask.FromResult(content);

        public void Forget(ShadowAddress address)
        {
            lock (Forgotten) Forgotten.Add(address);
        }
    }
}
