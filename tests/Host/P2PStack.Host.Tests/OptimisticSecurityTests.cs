using Microsoft.Extensions.DependencyInjection;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Testing;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>
/// Optimistic security negotiation: a dialer that knows the suite a peer accepted sends the multistream header, the
/// proposal and Noise message 1 in one write, and the listener its answer and message 2 in one write. Round trips are
/// counted from the bytes each side wrote and the reads between them.
/// </summary>
public class OptimisticSecurityTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private const string Hybrid = "/noise-mlkem768-hfs/0.1.0";
    private const int HeaderAndHybridProposal = 20 + 27; // "/multistream/1.0.0\n" and "/noise-mlkem768-hfs/0.1.0\n", each behind its length

    private static Task<TestPeer> StartTracedAsync(string listen, MemoryNetwork network, WireTraceProtector trace,
        PrivateKey? key = null, Action<P2PStack.Security.Noise.NoiseOptions>? noise = null) =>
        TestPeer.StartAsync(listen, network, p2p =>
        {
            p2p.Services.AddSingleton<IConnectionProtector>(trace);
            if (key is not null) p2p.WithIdentity(key);
        }, noise: noise);

    [Fact]
    public async Task A_second_dial_proposes_the_remembered_suite_with_noise_message_1_and_waits_one_round_trip_instead_of_two()
    {
        var network = new MemoryNetwork();
        var serverTrace = new WireTraceProtector();
        var clientTrace = new WireTraceProtector();
        await using var server = await StartTracedAsync("/memory/0", network, serverTrace);
        await using var client = await StartTracedAsync("/memory/0", network, clientTrace);

        var first = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(Hybrid, first.SecurityProtocol);
        Assert.Equal(Hybrid, client.Host.SecurityMemory.Recall(server.Host.PeerId, client.Host.SecurityProtocols));
        await client.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None).AsTask().WaitAsync(Patience);

        var second = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(Hybrid, second.SecurityProtocol);
        Assert.NotSame(first, second);
        await AssertPingAsync(client, server);

        var (normal, optimistic) = (clientTrace.Connections[0], clientTrace.Connections[1]);
        AssertHandshake(normal, [Hybrid], 2);
        AssertHandshake(optimistic, [Hybrid], 1);
        // The dialer's first write: header and proposal alone, then with Noise message 1.
        Assert.Equal(HeaderAndHybridProposal, normal.Writes[0].Length);
        Assert.True(optimistic.Writes[0].Length > HeaderAndHybridProposal + 1000, $"first write {optimistic.Writes[0].Length} bytes");
        // The listener's answer: alone, then with Noise message 2 in the same write. (Its header goes with the answer
        // only when the proposal is already there as it starts, so it may be a write of its own: count from the
        // write that carries the answer's last byte.)
        var serverConnections = serverTrace.Connections;
        Assert.Equal(HeaderAndHybridProposal, EndOfWriteCarryingTheAnswer(serverConnections[0].Writes));
        int optimisticEnd = EndOfWriteCarryingTheAnswer(serverConnections[1].Writes);
        Assert.True(optimisticEnd > HeaderAndHybridProposal + 1000, $"the listener's answer went in a write ending at byte {optimisticEnd}");
        Assert.Equal(serverConnections[0].Writes.SelectMany(w => w).Take(HeaderAndHybridProposal),
            serverConnections[1].Writes.SelectMany(w => w).Take(HeaderAndHybridProposal));
    }

    /// <summary>Where (in bytes from the connection's start) the write that carries the multistream answer's last byte
    /// ends.</summary>
    private static int EndOfWriteCarryingTheAnswer(IReadOnlyList<byte[]> writes)
    {
        int end = 0;
        foreach (var write in writes)
        {
            end += write.Length;
            if (end >= HeaderAndHybridProposal) return end;
        }
        throw new InvalidOperationException($"the listener wrote {end} bytes, not even its answer");
    }

    [Fact]
    public async Task A_listener_that_dropped_the_remembered_suite_is_dialed_again_in_full_and_the_fallback_is_not_remembered()
    {
        var network = new MemoryNetwork();
        var clientTrace = new WireTraceProtector();
        var key = PrivateKey.Generate(KeyType.Ed25519);
        string listen = $"/memory/{Random.Shared.NextInt64(1_000_000, long.MaxValue)}";
        await using var client = await StartTracedAsync("/memory/0", network, clientTrace);
        var serverTrace = new WireTraceProtector();
        var hybridServer = await StartTracedAsync(listen, network, serverTrace, key);
        var address = hybridServer.Address;
        var peer = hybridServer.Host.PeerId;
        try
        {
            Assert.Equal(Hybrid, (await client.Host.DialAsync(address, CancellationToken.None).AsTask().WaitAsync(Patience)).SecurityProtocol);
        }
        finally
        {
            await hybridServer.DisposeAsync();
        }
        await WaitUntilAsync(() => client.Host.GetConnections().Count == 0);

        // The same peer, at the same address, now classical only.
        await using var classical = await StartTracedAsync(listen, network, new WireTraceProtector(), key, o => o.PostQuantum.Enabled = false);
        var connection = await client.Host.DialAsync(address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal("/noise", connection.SecurityProtocol);
        await AssertPingAsync(client, classical);

        var traces = clientTrace.Connections;
        Assert.Equal(3, traces.Count); // the optimistic attempt, then one full negotiation
        Assert.True(traces[1].Writes[0].Length > HeaderAndHybridProposal + 1000, "the second dial was not optimistic");
        var full = traces[2].DialerHandshake();
        Assert.Equal([Hybrid, "/noise-mlkem1024-hfs/0.1.0", "/noise-mlkem512-hfs/0.1.0", "/noise"], full.Proposals);
        Assert.Equal(5, full.RoundTrips);
        // A fallback is not remembered: one refusal must not downgrade the dials that follow.
        Assert.Null(client.Host.SecurityMemory.Recall(peer, client.Host.SecurityProtocols));

        // So the next dial negotiates in full again, the post-quantum suites first.
        await client.Host.DisconnectAsync(peer, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal("/noise", (await client.Host.DialAsync(address, CancellationToken.None).AsTask().WaitAsync(Patience)).SecurityProtocol);
        AssertHandshake(clientTrace.Connections[3], [Hybrid, "/noise-mlkem1024-hfs/0.1.0", "/noise-mlkem512-hfs/0.1.0", "/noise"], 5);
    }

    [Fact]
    public async Task An_authentication_failure_after_the_listener_accepted_the_remembered_suite_is_not_dialed_again()
    {
        var network = new MemoryNetwork();
        var clientTrace = new WireTraceProtector();
        var serverTrace = new WireTraceProtector();
        var corrupt = new CorruptingProtector();
        await using var server = await TestPeer.StartAsync("/memory/0", network, p2p =>
        {
            p2p.Services.AddSingleton<IConnectionProtector>(serverTrace);
            p2p.Services.AddSingleton<IConnectionProtector>(corrupt);
        });
        await using var client = await StartTracedAsync("/memory/0", network, clientTrace);
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await client.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None).AsTask().WaitAsync(Patience);

        // The listener accepts the optimistic proposal and answers with a Noise message 2 whose last byte (its
        // payload's tag) is flipped: the dialer's authentication of message 2 fails after the suite was accepted.
        corrupt.Armed = true;
        var error = await Assert.ThrowsAnyAsync<Exception>(() => client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience));

        Assert.Equal(1, corrupt.Corrupted);
        Assert.Equal(2, clientTrace.Connections.Count); // the full first dial, then one optimistic handshake: not repeated
        Assert.Equal(2, serverTrace.Connections.Count);
        Assert.True(clientTrace.Connections[1].Writes[0].Length > HeaderAndHybridProposal + 1000, "the second dial was not optimistic");
        var chain = Chain(error).ToList();
        Assert.DoesNotContain(chain, e => e is OptimisticSecurityException);
        Assert.Contains(chain, e => e is HandshakeException && e.Message.Contains("message 2", StringComparison.Ordinal));
    }

    private static IEnumerable<Exception> Chain(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            yield return e;
            if (e is AggregateException aggregate)
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Chain)) yield return inner;
        }
    }

    /// <summary>Once armed, flips the last byte of the first large write (Noise message 2, behind the multistream
    /// answer) on each new connection.</summary>
    private sealed class CorruptingProtector : IConnectionProtector
    {
        private int _corrupted;

        public volatile bool Armed;

        public int Corrupted => Volatile.Read(ref _corrupted);

        public ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IRawConnection>(Armed ? new CorruptedConnection(connection, this) : connection);

        private sealed class CorruptedConnection(IRawConnection inner, CorruptingProtector owner) : DelegatingRawConnection(inner)
        {
            public override System.IO.Pipelines.PipeWriter Output { get; } = new CorruptingWriter(inner.Output, owner);
        }

        private sealed class CorruptingWriter(System.IO.Pipelines.PipeWriter inner, CorruptingProtector owner) : DelegatingPipeWriter(inner)
        {
            private Memory<byte> _last;
            private bool _done;

            public override void Advance(int bytes)
            {
                if (!_done && bytes > 1000)
                {
                    _last.Span[bytes - 1] ^= 1;
                    _done = true;
                    Interlocked.Increment(ref owner._corrupted);
                }
                Inner.Advance(bytes);
            }

            public override Memory<byte> GetMemory(int sizeHint = 0) => _last = Inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
        }
    }

    [Fact]
    public async Task A_dial_offering_other_suites_negotiates_in_full()
    {
        var network = new MemoryNetwork();
        var clientTrace = new WireTraceProtector();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await StartTracedAsync("/memory/0", network, clientTrace);
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await client.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None).AsTask().WaitAsync(Patience);

        var options = new DialOptions { SecurityProtocols = ["/noise-mlkem1024-hfs/0.1.0", Hybrid] };
        var connection = await client.Host.DialAsync(server.Address, options, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal("/noise-mlkem1024-hfs/0.1.0", connection.SecurityProtocol);
        AssertHandshake(clientTrace.Connections[1], ["/noise-mlkem1024-hfs/0.1.0"], 2);
    }

    [Fact]
    public async Task Turned_off_every_dial_negotiates_in_full()
    {
        var network = new MemoryNetwork();
        var clientTrace = new WireTraceProtector();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network,
            p2p => p2p.Services.AddSingleton<IConnectionProtector>(clientTrace), o => o.OptimisticSecurityPeers = 0);
        for (int i = 0; i < 2; i++)
        {
            await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
            await client.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None).AsTask().WaitAsync(Patience);
        }
        Assert.All(clientTrace.Connections, c => Assert.Equal(2, c.DialerHandshake().RoundTrips));
    }

    private static void AssertHandshake(ConnectionTrace trace, string[] proposals, int roundTrips)
    {
        var (sent, waited) = trace.DialerHandshake();
        Assert.Equal(proposals, sent);
        Assert.Equal(roundTrips, waited);
    }

    private static async Task AssertPingAsync(TestPeer client, TestPeer server)
    {
        var rtts = await client.Get<P2PStack.Protocols.Ping.PingService>().PingAsync(server.Host.PeerId, 1, CancellationToken.None)
            .WaitAsync(Patience);
        Assert.Single(rtts);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(10);
        }
    }
}

public class SecuritySuiteMemoryTests
{
    private static readonly string[] Offered = ["/noise-mlkem768-hfs/0.1.0", "/noise"];

    private static PeerId NewPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    [Fact]
    public void Recalls_only_for_the_same_offered_list_and_forgets()
    {
        var memory = new SecuritySuiteMemory(8, TimeSpan.FromHours(1));
        var peer = NewPeer();
        Assert.Null(memory.Recall(peer, Offered));
        memory.Remember(peer, Offered, "/noise");
        Assert.Equal("/noise", memory.Recall(peer, [.. Offered]));
        Assert.Null(memory.Recall(peer, ["/noise"]));
        memory.Forget(peer);
        Assert.Null(memory.Recall(peer, Offered));
    }

    [Fact]
    public void Keeps_at_most_its_capacity_dropping_the_least_recently_used()
    {
        var memory = new SecuritySuiteMemory(2, TimeSpan.FromHours(1));
        var (a, b, c) = (NewPeer(), NewPeer(), NewPeer());
        memory.Remember(a, Offered, "/noise");
        memory.Remember(b, Offered, "/noise");
        Assert.NotNull(memory.Recall(a, Offered)); // a is now the most recent
        memory.Remember(c, Offered, "/noise");
        Assert.Equal(2, memory.Count);
        Assert.NotNull(memory.Recall(a, Offered));
        Assert.Null(memory.Recall(b, Offered));
        Assert.NotNull(memory.Recall(c, Offered));
    }

    [Fact]
    public void Forgets_after_its_lifetime()
    {
        var clock = new SteppedClock();
        var memory = new SecuritySuiteMemory(8, TimeSpan.FromMinutes(10), clock);
        var peer = NewPeer();
        memory.Remember(peer, Offered, "/noise");
        clock.Now += TimeSpan.FromMinutes(9);
        Assert.Equal("/noise", memory.Recall(peer, Offered));
        clock.Now += TimeSpan.FromMinutes(1);
        Assert.Null(memory.Recall(peer, Offered));
        Assert.Equal(0, memory.Count);
    }

    private sealed class SteppedClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UnixEpoch;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
