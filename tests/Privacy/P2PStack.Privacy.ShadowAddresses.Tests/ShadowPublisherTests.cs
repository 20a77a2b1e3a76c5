using Microsoft.Extensions.DependencyInjection;
using P2PStack.Privacy.ShadowAddresses.Service;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Testing;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>The scheduled publisher over a real DHT (6 hosts on the memory transport): what it publishes when, and that
/// clients resolve what it published in each period, after a rotation and not after a revocation's expiry.</summary>
public class ShadowPublisherTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Without_jitter_publishes_new_and_rotated_addresses_at_once_each_period_and_ahead_of_the_next()
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
                    o.PublicationJitter = TimeSpan.Zero; // the schedule's triggers; the random delays are tested below
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

            // A rotation: the new address only. The old one is not republished (its descriptor keeps the ordinary expiry, the
            // period's end plus the overlap, and it still resolves).
            var fresh = pool.Rotate(address);
            round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
            Assert.Equal(fresh, Assert.Single(round).Address);
            Assert.Equal((service.Directory.CurrentPeriod.End + TimeSpan.FromMinutes(15)).ToUnixTimeSeconds(),
                publisher.LastOf(address)!.Expires.ToUnixTimeSeconds());
            Assert.Equal(2, (await client.Directory.ResolveAsync(fresh, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            Assert.Equal(2, (await client.Directory.ResolveAsync(address, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);

            // Within the overlap before the period's end: the fresh address is published for the next period too (the
            // retiring one is not: its grace period ends before). Its revoked peers are forgotten.
            var period = service.Directory.CurrentPeriod;
            time.Now = period.End - TimeSpan.FromMinutes(5);
            round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
            Assert.Contains(round, p => p.Address.Equals(fresh) && p.Period == period.Number + 1);
            Assert.DoesNotContain(round, p => p.Address.Equals(address) && !p.Retirement);
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

    [Fact]
    public async Task A_retired_address_stops_resolving_at_its_grace_end_even_where_dht_nodes_still_hold_its_descriptor()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + 60)); // a minute into a period
        var network = new MemoryNetwork();
        var peers = new List<ShadowDirectoryTests.ShadowPeer>();
        try
        {
            var first = await ShadowDirectoryTests.ShadowPeer.StartAsync(network, time, [], null);
            peers.Add(first);
            for (int i = 1; i < 6; i++) peers.Add(await ShadowDirectoryTests.ShadowPeer.StartAsync(network, time, [], first.Address));
            var service = await ShadowDirectoryTests.ShadowPeer.StartAsync(network, time, [], first.Address, p2p =>
            {
                p2p.Services.AddSingleton<IShadowIntroductionSource>(new FixedIntroductions(ShadowDescriptorTests.Content(2)));
                p2p.AddShadowService(o =>
                {
                    o.IntroductionPoints = 2;
                    o.PublicationJitter = TimeSpan.Zero;
                });
            });
            peers.Add(service);
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            var client = peers[1];
            var pool = service.Get<ShadowAddressPool>();
            var publisher = service.Get<ShadowPublisher>();

            var old = pool.Generate();
            Assert.All(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience), p => Assert.True(p.StoredOn > 0));
            var fresh = pool.Rotate(old);
            // The rotation publishes nothing for the old address (only the new one).
            Assert.Equal(fresh, Assert.Single(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience)).Address);
            var retiresAt = pool.List().Single(e => e.Address.Equals(old)).RetiresAt!.Value;

            // During the grace period the old address resolves; what the DHT nodes hold of it is kept for later.
            time.Now += TimeSpan.FromMinutes(5);
            Assert.Equal(2, (await client.Directory.ResolveAsync(old, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            var dhtKey = ShadowDescriptor.DhtKey(old, service.Directory.CurrentPeriod);
            var held = new List<(IDhtRecordStore Store, DhtRecord Record)>();
            foreach (var peer in peers)
            {
                var store = peer.Get<IDhtRecordStore>();
                if (await store.GetAsync(dhtKey, CancellationToken.None) is { } kept) held.Add((store, kept));
            }
            Assert.True(held.Count >= 2, $"held by {held.Count}");

            // The grace ends (at its random moment): the old address leaves the pool and a retirement record supersedes
            // its descriptor at once, with a higher revision, the ordinary expiry and the size of any descriptor.
            time.Now = retiresAt;
            var round = await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience);
            var retirement = Assert.Single(round, p => p.Address.Equals(old));
            Assert.True(retirement.Retirement);
            Assert.True(retirement.StoredOn > 0);
            Assert.Null(retirement.Error);
            Assert.DoesNotContain(pool.List(), e => e.Address.Equals(old));
            var superseding = await first.Dht.GetValueAsync(dhtKey, CancellationToken.None).WaitAsync(Patience);
            var record = ShadowDescriptor.Verify(dhtKey, superseding, time.Now, ShadowDirectoryTests.PeriodLength);
            var before = ShadowDescriptor.Verify(dhtKey, held[0].Record.Value, time.Now, ShadowDirectoryTests.PeriodLength);
            Assert.True(record.Revision > before.Revision);
            Assert.Equal(before.Expires, record.Expires);
            Assert.Equal(before.Encoded.Length, record.Encoded.Length);
            Assert.True(record.Decrypt(old).Retired);
            // Nothing more is due for it.
            Assert.DoesNotContain(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience), p => p.Address.Equals(old));

            // Some DHT nodes still hold the old descriptor (they missed the retirement): the resolver prefers the newer
            // retirement record of the others, and the address no longer resolves.
            foreach (var (store, stale) in held.Skip(1)) await store.PutAsync(stale, CancellationToken.None);
            long failures = client.Get<ShadowMetrics>().ResolveFailures;
            var gone = await Assert.ThrowsAsync<DhtNotFoundException>(() => client.Directory.ResolveAsync(old, CancellationToken.None).WaitAsync(Patience));
            Assert.True(ShadowDirectory.IsRetirement(gone), gone.Message);
            Assert.Equal(1, client.Get<ShadowMetrics>().RetiredResolutions);
            Assert.Equal(failures + 1, client.Get<ShadowMetrics>().ResolveFailures);
            Assert.Equal(2, (await client.Directory.ResolveAsync(fresh, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);

            // A revoked address is retired at once, without waiting for anything.
            pool.Revoke(fresh);
            var revoked = Assert.Single(await publisher.RetireNowAsync(fresh, CancellationToken.None).WaitAsync(Patience));
            Assert.True(revoked is { Retirement: true, StoredOn: > 0 } && revoked.Address.Equals(fresh));
            Assert.True(ShadowDirectory.IsRetirement(await Assert.ThrowsAsync<DhtNotFoundException>(() =>
                client.Directory.ResolveAsync(fresh, CancellationToken.None).WaitAsync(Patience))));
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Each_publication_leaves_after_its_own_random_delay_and_a_rotated_address_resolves_within_the_bound()
    {
        var jitter = TimeSpan.FromMinutes(5);
        var clock = new ManualClock(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + 60)); // a minute into a period
        var network = new MemoryNetwork();
        var peers = new List<ShadowDirectoryTests.ShadowPeer>();
        try
        {
            var first = await ShadowDirectoryTests.ShadowPeer.StartAsync(network, clock, [], null);
            peers.Add(first);
            for (int i = 1; i < 5; i++) peers.Add(await ShadowDirectoryTests.ShadowPeer.StartAsync(network, clock, [], first.Address));
            var service = await ShadowDirectoryTests.ShadowPeer.StartAsync(network, clock, [], first.Address, p2p =>
            {
                p2p.Services.AddSingleton<IShadowIntroductionSource>(new FixedIntroductions(ShadowDescriptorTests.Content(2)));
                p2p.AddShadowService(o =>
                {
                    o.RepublishInterval = TimeSpan.FromMinutes(20);
                    o.IntroductionPoints = 2;
                    o.PublicationJitter = jitter;
                });
            });
            peers.Add(service);
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            var client = peers[1];
            var pool = service.Get<ShadowAddressPool>();
            var publisher = service.Get<ShadowPublisher>();

            // Four addresses generated in one instant: none is published then; each is scheduled after its own delay.
            var start = clock.GetUtcNow();
            List<ShadowAddress> olds = [pool.Generate(), pool.Generate(), pool.Generate(), pool.Generate()];
            Assert.Empty(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience));
            await PublishEachAtItsTimeAsync(clock, publisher, olds, start, jitter);

            // All four rotated in one instant R: nothing is published at R (neither the new addresses nor the old ones);
            // each new one is due after its own delay within the bound, at none of the old ones' (independent) times.
            var oldSchedule = olds.Select(a => publisher.ScheduledOf(a)!.Value).ToList();
            clock.Advance(TimeSpan.FromMinutes(1));
            var rotatedAt = clock.GetUtcNow();
            var fresh = olds.Select(pool.Rotate).ToList();
            Assert.Empty(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience));
            Assert.Equal(oldSchedule, olds.Select(a => publisher.ScheduledOf(a)!.Value).ToList());
            Assert.All(fresh, a => Assert.DoesNotContain(publisher.ScheduledOf(a)!.Value, oldSchedule));
            await Assert.ThrowsAsync<DhtNotFoundException>(() => client.Directory.ResolveAsync(fresh[0], CancellationToken.None).WaitAsync(Patience));
            await PublishEachAtItsTimeAsync(clock, publisher, fresh, rotatedAt, jitter);

            // By the bound (rotation + jitter) every new address resolves, and the old ones still do (grace period).
            Assert.True(clock.GetUtcNow() <= rotatedAt + jitter);
            foreach (var address in fresh.Concat(olds))
                Assert.Equal(2, (await client.Directory.ResolveAsync(address, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);

            // Republications are as independent: each is due a republish interval after its own publication plus a new delay.
            Assert.All(fresh, a => Assert.InRange(publisher.ScheduledOf(a)!.Value - publisher.LastOf(a)!.At,
                TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(20) + jitter));
            Assert.Equal(fresh.Count, fresh.Select(a => publisher.ScheduledOf(a)!.Value - publisher.LastOf(a)!.At).Distinct().Count());

            // The running service (woken by its timer on this clock) publishes a new address by itself within the bound.
            await publisher.StartAsync(CancellationToken.None);
            try
            {
                var generatedAt = clock.GetUtcNow();
                var late = pool.Generate();
                var deadline = DateTime.UtcNow + Patience;
                DateTimeOffset? due;
                while ((due = publisher.ScheduledOf(late)) is null) // the loop's round, woken by the pool, schedules it
                {
                    Assert.True(DateTime.UtcNow < deadline, "the running publisher never scheduled the new address");
                    await Task.Delay(10);
                }
                Assert.InRange(due.Value, generatedAt, generatedAt + jitter);
                Assert.Null(publisher.LastOf(late));
                clock.Advance(due.Value - clock.GetUtcNow());
                while (publisher.LastOf(late) is not { StoredOn: > 0 })
                {
                    Assert.True(DateTime.UtcNow < deadline, "the running publisher did not publish the new address when due");
                    await Task.Delay(10);
                    clock.Advance(TimeSpan.FromMilliseconds(10)); // in case its timer was armed after the advance
                }
                Assert.InRange(publisher.LastOf(late)!.At, due.Value, due.Value + TimeSpan.FromSeconds(1));
                Assert.Equal(2, (await client.Directory.ResolveAsync(late, CancellationToken.None).WaitAsync(Patience)).IntroductionPoints.Count);
            }
            finally
            {
                await publisher.StopAsync(CancellationToken.None);
            }
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    [Fact]
    public void The_default_jitter_is_a_quarter_of_the_republish_interval_at_most_five_minutes()
    {
        Assert.Equal(TimeSpan.FromMinutes(5), new ShadowPublisherOptions().EffectiveJitter);
        Assert.Equal(TimeSpan.FromMinutes(2), new ShadowPublisherOptions { RepublishInterval = TimeSpan.FromMinutes(8) }.EffectiveJitter);
        Assert.Equal(TimeSpan.Zero, new ShadowPublisherOptions { PublicationJitter = TimeSpan.Zero }.EffectiveJitter);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShadowPublisherOptions { PublicationJitter = TimeSpan.FromMinutes(21) }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new ShadowPublisherOptions { PublicationJitter = TimeSpan.FromSeconds(-1) }.Validate());
    }

    // Each address is scheduled within (from, from + jitter], at a time of its own; stepping the clock to each time in
    // turn publishes that address alone, there and not a tick before.
    private static async Task PublishEachAtItsTimeAsync(ManualClock clock, ShadowPublisher publisher, List<ShadowAddress> addresses,
        DateTimeOffset from, TimeSpan jitter)
    {
        var schedule = addresses.ToDictionary(a => a, a => publisher.ScheduledOf(a)
            ?? throw new Xunit.Sdk.XunitException($"{a} was not scheduled"));
        Assert.All(schedule.Values, at => Assert.InRange(at, from, from + jitter));
        Assert.Equal(addresses.Count, schedule.Values.Distinct().Count());
        Assert.DoesNotContain(from, schedule.Values);
        foreach (var (address, at) in schedule.OrderBy(e => e.Value))
        {
            clock.Advance(at - clock.GetUtcNow() - TimeSpan.FromTicks(1));
            Assert.DoesNotContain(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience), p => p.Address.Equals(address));
            clock.Advance(TimeSpan.FromTicks(1));
            var published = Assert.Single(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience));
            Assert.Equal(address, published.Address);
            Assert.Equal(at, published.At);
            Assert.Null(published.Error);
            Assert.True(published.StoredOn > 0);
        }
    }

    [Fact]
    public async Task The_wait_for_the_onion_directory_does_not_hold_the_publisher()
    {
        var access = new GatedAccess();
        var metrics = new ShadowMetrics(null);
        var shadow = Microsoft.Extensions.Options.Options.Create(new ShadowOptions());
        var pool = new ShadowAddressPool(Microsoft.Extensions.Options.Options.Create(new ShadowPoolOptions()), metrics);
        using var publisher = new ShadowPublisher(pool, new ShadowDirectory(access, shadow, metrics), new FixedIntroductions(ShadowDescriptorTests.Content(2)),
            shadow, Microsoft.Extensions.Options.Options.Create(new ShadowPublisherOptions { IntroductionPoints = 2, PublicationJitter = TimeSpan.Zero }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<ShadowPublisher>.Instance);

        // A fresh node: two generates wait for the directory together, the second not behind the first (before, the
        // first held the publisher's lock for up to DirectoryWaitTimeout, 30 s).
        var a = pool.Generate();
        var generateA = publisher.PublishNowAsync(a, CancellationToken.None);
        await access.WaitersAsync(1).WaitAsync(Patience);
        var b = pool.Generate();
        var generateB = publisher.PublishNowAsync(b, CancellationToken.None);
        await access.WaitersAsync(2).WaitAsync(Patience);
        // Revocations meanwhile: their round (nothing due: it forgets the addresses) completes while the generates wait.
        Assert.True(pool.Revoke(a));
        Assert.True(pool.Revoke(b));
        Assert.Empty(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(generateA.IsCompleted);
        Assert.False(generateB.IsCompleted);

        // The directory fills: the waiting rounds find nothing left to publish; a new address is published at once.
        access.Ready.SetResult();
        Assert.Empty(await generateA.WaitAsync(Patience));
        Assert.Empty(await generateB.WaitAsync(Patience));
        Assert.Equal(0, access.Puts);
        var c = pool.Generate();
        // On the real clock: within the lead before a period's end the next period is published too (CI run U at
        // HH:53 got two), so the count is one or two, all for c, one put each.
        var published = (await publisher.PublishNowAsync(c, CancellationToken.None).WaitAsync(Patience)).ToList();
        Assert.InRange(published.Count, 1, 2);
        Assert.All(published, p =>
        {
            Assert.Equal(c, p.Address);
            Assert.Null(p.Error);
        });
        Assert.Equal(published.Count, access.Puts);
    }

    [Fact]
    public async Task A_revoke_publishes_only_the_revoked_address_retirement_records_and_leaves_the_rest_to_the_round()
    {
        var time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + 60)); // a minute into a period
        var access = new HoldingAccess();
        var metrics = new ShadowMetrics(null);
        var shadow = Microsoft.Extensions.Options.Options.Create(new ShadowOptions { DhtTimeout = TimeSpan.FromMinutes(5) });
        var pool = new ShadowAddressPool(Microsoft.Extensions.Options.Options.Create(new ShadowPoolOptions()), metrics, time);
        using var publisher = new ShadowPublisher(pool, new ShadowDirectory(access, shadow, metrics, time), new FixedIntroductions(ShadowDescriptorTests.Content(2)),
            shadow, Microsoft.Extensions.Options.Options.Create(new ShadowPublisherOptions { IntroductionPoints = 2, PublicationJitter = TimeSpan.Zero }),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<ShadowPublisher>.Instance, time);
        var revoked = pool.Generate();
        var other = pool.Generate();
        Assert.Equal(2, (await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience)).Count);
        var period = ShadowPeriod.At(time.Now, new ShadowOptions().PeriodLength);

        // Both are due again (the republish interval); the DHT does not answer the other address's put (until its
        // DhtTimeout, 5 min). The revoke publishes its retirement record and returns, without waiting for that put.
        time.Now += TimeSpan.FromMinutes(20);
        access.Hold(ShadowDescriptor.DhtKey(other, period));
        Assert.True(pool.Revoke(revoked));
        try
        {
            var retired = Assert.Single(await publisher.RetireNowAsync(revoked, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.True(retired is { Retirement: true, StoredOn: 1 } && retired.Address.Equals(revoked));
            Assert.Equal(0, access.Held);
        }
        finally
        {
            access.Release();
        }

        // The other address's publication is still due: the next round publishes it, and only it.
        var published = Assert.Single(await publisher.PublishDueAsync(CancellationToken.None).WaitAsync(Patience));
        Assert.True(published is { Retirement: false, StoredOn: 1 } && published.Address.Equals(other));
    }

    // A DHT access that stores everything at once, except puts under a key the test holds: those wait until released.
    private sealed class HoldingAccess : P2PStack.Privacy.ShadowAddresses.Directory.IShadowDhtAccess
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private byte[]? _held;
        private int _waiting;

        public int Held => Volatile.Read(ref _waiting);

        public string Name => "holding";

        public void Hold(byte[] key) => _held = key;

        public void Release() => _released.TrySetResult();

        public Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task<int> PutAsync(byte[] key, byte[] value, CancellationToken cancellationToken)
        {
            if (_held is { } held && key.AsSpan().SequenceEqual(held))
            {
                Interlocked.Increment(ref _waiting);
                try
                {
                    await _released.Task.WaitAsync(cancellationToken);
                }
                finally
                {
                    Interlocked.Decrement(ref _waiting);
                }
            }
            return 1;
        }

        public Task<byte[]> GetAsync(byte[] key, CancellationToken cancellationToken) => throw new DhtNotFoundException("not stored");
    }

    // A DHT access whose readiness the test controls (an onion directory that fills when the test says).
    private sealed class GatedAccess : P2PStack.Privacy.ShadowAddresses.Directory.IShadowDhtAccess
    {
        private int _waiters;
        private int _puts;

        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Puts => Volatile.Read(ref _puts);

        public string Name => "gated";

        public async Task WaitersAsync(int count)
        {
            while (Volatile.Read(ref _waiters) < count) await Task.Delay(10);
        }

        public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (Ready.Task.IsCompleted) return;
            if (timeout <= TimeSpan.Zero) throw new P2PStack.Privacy.Onion.Client.NoPathException("not ready");
            Interlocked.Increment(ref _waiters);
            await Ready.Task.WaitAsync(timeout, cancellationToken);
        }

        public Task<int> PutAsync(byte[] key, byte[] value, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _puts);
            return Task.FromResult(1);
        }

        public Task<byte[]> GetAsync(byte[] key, CancellationToken cancellationToken) => throw new DhtNotFoundException("not stored");
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
