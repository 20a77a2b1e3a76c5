using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

public class ConnectionLifecycleTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Closing_a_connection_with_a_stream_that_never_ends_is_bounded_by_the_close_timeout()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network,
            options: o => o.ConnectionCloseTimeout = TimeSpan.FromMilliseconds(200));
        using var registration = server.Host.AddHandler(new EchoHandler());
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None);
        await using var open = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None);
        await open.Output.WriteAsync(new byte[] { 1 }); // negotiated and in use, never half-closed

        await connection.CloseAsync(CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.True(connection.Completion.IsCompleted, "CloseAsync returned before the connection was closed");
        // Forgotten by the host before the close is reported, not some time after.
        Assert.DoesNotContain(connection, client.Host.GetConnections());
        await Assert.ThrowsAsync<MuxerClosedException>(() =>
            connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None).AsTask());

        // A new dial does not hand out the closed connection.
        var fresh = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.NotSame(connection, fresh);
    }

    [Fact]
    public void Observed_addresses_count_observer_networks_not_peer_ids()
    {
        var observed = new ObservedAddresses();
        var us = Multiaddr.Parse("/ip4/203.0.113.7/tcp/4001");
        // Ten observers in ten /16 networks confirm ten times; ten in one /16 count once.
        for (int i = 0; i < 10; i++) observed.Record(us, Multiaddr.Parse($"/ip4/{20 + i}.51.0.1/tcp/5000"));
        Assert.Equal(10, observed.Get()[0].Observers);
        var single = new ObservedAddresses();
        for (int i = 0; i < 10; i++) single.Record(us, Multiaddr.Parse($"/ip4/198.51.100.{i}/tcp/5000"));
        Assert.Equal(1, single.Get()[0].Observers);
        Assert.Empty(single.Get(minObservers: 2));
    }

    [Fact]
    public void Observed_addresses_are_bounded()
    {
        var observed = new ObservedAddresses(maxAddresses: 4);
        for (int i = 0; i < 100; i++)
            observed.Record(Multiaddr.Parse($"/ip4/203.0.113.{i}/tcp/4001"), Multiaddr.Parse($"/ip4/10.{i}.0.1/tcp/1"));
        Assert.Equal(4, observed.Get().Count);
    }

    /// <summary>
    /// A read prunes expired observations while a record adds one: the record must never be lost (a prune that dropped
    /// an address whose observer set was still empty once lost it, and a node never learned its address from its relay).
    /// </summary>
    [Fact]
    public async Task Observed_addresses_are_not_lost_to_concurrent_reads()
    {
        var clock = new SettableClock();
        var ttl = TimeSpan.FromMinutes(1);
        var observed = new ObservedAddresses(ttl: ttl, timeProvider: clock);
        var observer = Multiaddr.Parse("/ip4/11.0.0.10/tcp/4001");
        using var stop = new CancellationTokenSource();
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested) observed.Get();
        })).ToList();
        int lost = 0;
        try
        {
            for (int i = 0; i < 100_000; i++)
            {
                var us = Multiaddr.Parse($"/ip4/11.0.{i / 250 % 250}.{i % 250 + 1}/tcp/4001");
                observed.Record(us, observer);
                if (!observed.Get().Any(o => o.Address.Equals(us))) lost++;
                clock.Advance(ttl + TimeSpan.FromSeconds(1)); // the next read prunes this one
            }
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(readers);
        }
        Assert.Equal(0, lost);
    }

    private sealed class SettableClock : TimeProvider
    {
        private long _ticks = DateTimeOffset.UnixEpoch.UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    [Fact]
    public void The_in_memory_peer_store_forgets_the_least_recently_updated_peers_beyond_its_cap()
    {
        var store = new InMemoryPeerStore(maxPeers: 100);
        var keys = Enumerable.Range(0, 150).Select(_ => P2PStack.Identity.PrivateKey.Generate()).ToList();
        foreach (var key in keys) store.SetMetadata(P2PStack.Identity.PeerId.FromPublicKey(key.PublicKey), "k", "v");
        Assert.InRange(store.Peers.Count, 80, 100);
        Assert.Equal("v", store.GetMetadata(P2PStack.Identity.PeerId.FromPublicKey(keys[^1].PublicKey), "k"));
        Assert.Null(store.GetMetadata(P2PStack.Identity.PeerId.FromPublicKey(keys[0].PublicKey), "k"));
    }
}
