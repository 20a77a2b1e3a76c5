using P2PStack.Identity;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Directory;

namespace P2PStack.Privacy.Onion.Tests.Client;

/// <summary>A build through a pinned first relay prepares the next build's first hop after it; that build takes it
/// (no handshake computed on its path), once; a build through another first relay erases it.</summary>
public class PreparedFirstHopTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task The_next_build_through_a_pinned_first_relay_sends_a_CREATE_prepared_after_the_build_before()
    {
        var network = await OnionTestNetwork.StartAsync(relays: 3, clientOptions: o => o.Client.PreemptiveCircuits = 0);
        try
        {
            var client = network.Client.Client;
            var prepared = new List<OnionHandshake.Client>();
            client.HandshakePrepared = handshake =>
            {
                lock (prepared) prepared.Add(handshake);
            };
            var entry = new CircuitRequest { Pinned = [network.Relays[0].PeerId], Hops = 1 };
            await client.BuildCircuitAsync(entry, CancellationToken.None).WaitAsync(Patience);
            await Ready(client);
            OnionHandshake.Client ahead;
            lock (prepared)
            {
                Assert.Equal(2, prepared.Count); // the build's own, then the one for the next build
                ahead = prepared[1];
            }
            Assert.False(ahead.Erased);

            await client.BuildCircuitAsync(entry, CancellationToken.None).WaitAsync(Patience);
            Assert.True(ahead.Erased); // used, then erased
            await Ready(client);
            OnionHandshake.Client next;
            lock (prepared)
            {
                Assert.Equal(3, prepared.Count); // the second build computed none on its path: only the next one since
                next = prepared[2];
            }
            Assert.NotSame(ahead, next);

            // Another first relay: the held handshake is not sent there, and is erased.
            await client.BuildCircuitAsync(new CircuitRequest { Pinned = [network.Relays[1].PeerId], Hops = 1 }, CancellationToken.None)
                .WaitAsync(Patience);
            Assert.True(next.Erased);
            await Ready(client);
            lock (prepared) Assert.Equal(5, prepared.Count); // that build's own, then one for its first relay
        }
        finally
        {
            await network.DisposeAsync();
        }
    }

    [Fact]
    public async Task Builds_without_a_pinned_first_relay_prepare_nothing_ahead_and_dispose_erases_a_held_one()
    {
        var network = await OnionTestNetwork.StartAsync(relays: 3, clientOptions: o => o.Client.PreemptiveCircuits = 0);
        var client = network.Client.Client;
        var prepared = new List<OnionHandshake.Client>();
        client.HandshakePrepared = handshake =>
        {
            lock (prepared) prepared.Add(handshake);
        };
        try
        {
            await client.BuildCircuitAsync(new CircuitRequest { Hops = 1 }, CancellationToken.None).WaitAsync(Patience);
            await Task.Delay(200);
            Assert.False(client.FirstHop.IsReady);
            lock (prepared) Assert.Single(prepared);

            await client.BuildCircuitAsync(new CircuitRequest { Pinned = [network.Relays[2].PeerId], Hops = 1 }, CancellationToken.None)
                .WaitAsync(Patience);
            await Ready(client);
        }
        finally
        {
            await network.DisposeAsync();
        }
        OnionHandshake.Client held;
        lock (prepared) held = prepared[^1];
        Assert.True(held.Erased);
    }

    [Fact]
    public async Task A_failed_preparation_is_told_once_and_holds_nothing()
    {
        var told = new List<Exception>();
        var first = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;
        var hop = new PreparedFirstHop(_ =>
        {
            Interlocked.Increment(ref calls);
            throw new InvalidOperationException("no key");
        }, e =>
        {
            lock (told) told.Add(e);
            first.TrySetResult(e);
        });
        var relay = Relay();
        hop.PrepareFor(relay);
        Assert.Equal("no key", (await first.Task.WaitAsync(Patience)).Message);
        // A second failure is not told again. A third preparation started shows the second one ended, its failure
        // handled (PrepareFor skips while one runs): only then can the single report be asserted.
        var deadline = DateTime.UtcNow + Patience;
        while (Volatile.Read(ref calls) < 3)
        {
            Assert.True(DateTime.UtcNow < deadline, "the second and third preparations did not run");
            hop.PrepareFor(relay);
            await Task.Delay(5);
        }
        Assert.False(hop.IsReady);
        Assert.Null(hop.Take(relay));
        lock (told) Assert.Single(told);
    }

    private static RelayInfo Relay()
    {
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        return new RelayInfo
        {
            Peer = PeerId.FromPublicKey(key.PublicKey), Addresses = [], OnionKey = [1, 2, 3], Bandwidth = 1, MaxCircuits = 1,
            IsExit = false, ExitAllowed = [], ExitDenied = [], PublishedAt = DateTimeOffset.UnixEpoch,
            ExpiresAt = DateTimeOffset.UnixEpoch, CellSize = 512, Protocol = "test",
        };
    }

    private static async Task Ready(OnionClient client)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!client.FirstHop.IsReady)
        {
            Assert.True(DateTime.UtcNow < deadline, "no first hop was prepared after the build");
            await Task.Delay(10);
        }
    }
}
