using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Introductions;

/// <summary>
/// Introduction points (docs/specs/shadow.md, section 7) at the circuit level: a service registers an auth key over
/// its circuit, a client's INTRODUCE over another circuit is joined to a new stream on the service's circuit, bytes
/// go both ways; the relay refuses unknown keys, floods past the rate, and registrations past its limit, counting each.
/// </summary>
public class IntroductionTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;
    private static readonly Multiaddr Remote = Multiaddr.Parse("/p2p-onion");

    [Fact]
    public async Task A_client_stream_is_joined_to_the_service_circuit_and_carries_bytes_both_ways()
    {
        await using var setup = await RegisteredServiceAsync();
        var (client, introPoint, authKey, arrived, registration) = setup;
        Assert.Equal(introPoint.PeerId, registration.Relay);
        Assert.Equal(1, introPoint.Relay.IntroductionPointCount);

        var outbound = await client.Client.IntroduceAsync(introPoint.PeerId, authKey, Remote, CancellationToken.None).WaitAsync(Patience);
        var inbound = await arrived.Reader.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal(Direction.Inbound, inbound.Direction);
        Assert.True(inbound.IsAnonymous);
        Assert.Same(setup.Identity, inbound.LocalIdentity);

        // More than one cell each way, and more than a stream window's SENDME increment.
        var request = Enumerable.Range(0, 40_000).Select(i => (byte)i).ToArray();
        await outbound.Output.WriteAsync(request);
        Assert.Equal(request, await ReadExactlyAsync(inbound.Input, request.Length).WaitAsync(Patience));
        var answer = Enumerable.Range(0, 30_000).Select(i => (byte)(i * 7)).ToArray();
        await inbound.Output.WriteAsync(answer);
        Assert.Equal(answer, await ReadExactlyAsync(outbound.Input, answer.Length).WaitAsync(Patience));
        // A half-close crosses the join.
        await outbound.Output.CompleteAsync();
        var end = await inbound.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.True(end.IsCompleted);
        Assert.True(end.Buffer.IsEmpty);
        Assert.Equal(1, introPoint.Relay.Metrics.IntroductionsByOutcome["forwarded"]);
        await outbound.DisposeAsync();
        await inbound.DisposeAsync();

        // The registration goes with its circuit.
        await registration.DisposeAsync();
        await WaitUntilAsync(() => introPoint.Relay.IntroductionPointCount == 0, "the registration outlived its circuit");
        var gone = await Assert.ThrowsAsync<OnionStreamException>(() =>
            client.Client.IntroduceAsync(introPoint.PeerId, authKey, Remote, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(EndReason.NoIntroduction, gone.Reason);
    }

    [Fact]
    public async Task An_exception_of_no_documented_kind_in_the_reader_ends_the_circuit_with_destroy_internal()
    {
        // The service's accept throws what the reader does not expect (not I/O, not a format error): the reader's last
        // catch ends the circuit (DESTROY internal, sent and counted) instead of leaving a dead reader behind a circuit
        // that looks open; the stream on it fails with a typed error and the introduction point lets go.
        var accepted = new TaskCompletionSource<IRawConnection>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var setup = await RegisteredServiceAsync(accept: raw =>
        {
            accepted.TrySetResult(raw);
            throw new NotSupportedException("a bug in the service's accept");
        });
        var (client, introPoint, authKey, _, registration) = setup;
        var service = setup.Service;
        var failures = Channel.CreateUnbounded<Exception>();
        service.Client.CircuitFailure = e => failures.Writer.TryWrite(e);

        // The client's side may see the join or its end; either way it does not hang.
        var introducing = client.Client.IntroduceAsync(introPoint.PeerId, authKey, Remote, CancellationToken.None);
        var inbound = await accepted.Task.WaitAsync(Patience);
        Assert.Equal(DestroyReason.Internal, await registration.Completion.WaitAsync(Patience));
        Assert.IsType<NotSupportedException>(await failures.Reader.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(1, service.Get<OnionMetrics>().DestroysSent.GetValueOrDefault(OnionMetrics.Label(DestroyReason.Internal)));
        var failed = await Assert.ThrowsAsync<CircuitException>(async () =>
        {
            while (true)
            {
                var result = await inbound.Input.ReadAsync();
                inbound.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) return;
            }
        }).WaitAsync(Patience);
        Assert.Equal(DestroyReason.Internal, failed.Reason);
        Assert.DoesNotContain(service.Client.Circuits, c => c.Id == registration.CircuitId);
        await WaitUntilAsync(() => introPoint.Relay.IntroductionPointCount == 0, "the registration outlived its circuit");
        Assert.IsNotType<TimeoutException>(await Record.ExceptionAsync(() => introducing.WaitAsync(Patience)));
    }

    [Fact]
    public async Task The_same_INTRODUCE_sent_again_is_refused_counted_and_never_reaches_the_service()
    {
        await using var setup = await RegisteredServiceAsync();
        var (client, introPoint, authKey, arrived, _) = setup;
        var circuit = await client.Client.GetCircuitAsync(new CircuitRequest { Last = introPoint.PeerId }, CancellationToken.None).WaitAsync(Patience);
        var nonce = System.Security.Cryptography.RandomNumberGenerator.GetBytes(Relay.IntroductionRegistry.NonceSize);

        await using var first = await circuit.OpenIntroductionAsync(authKey, nonce, OnionAddress.Listen, Remote, CancellationToken.None);
        await first.Connected.WaitAsync(Patience);
        var inbound = await arrived.Reader.ReadAsync().AsTask().WaitAsync(Patience);

        // The same INTRODUCE (auth key and nonce) again, on a new stream: refused (END protocol), counted, and the service
        // gets nothing; the client's circuit stays.
        await using var replay = await circuit.OpenIntroductionAsync(authKey, nonce, OnionAddress.Listen, Remote, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<OnionStreamException>(() => replay.Connected.WaitAsync(Patience));
        Assert.Equal(EndReason.Protocol, refused.Reason);
        Assert.Equal(1, introPoint.Relay.Metrics.IntroductionsByOutcome.GetValueOrDefault("replay"));
        Assert.Equal(1, introPoint.Relay.Metrics.RelayRefusalsByReason.GetValueOrDefault("introduction_replay"));
        Assert.Equal(1, introPoint.Relay.Metrics.IntroductionsByOutcome.GetValueOrDefault("forwarded"));
        Assert.False(arrived.Reader.TryRead(out _));
        Assert.False(circuit.IsClosed);

        // A fresh nonce is an introduction like any other.
        await using var second = await circuit.OpenIntroductionAsync(authKey,
            System.Security.Cryptography.RandomNumberGenerator.GetBytes(Relay.IntroductionRegistry.NonceSize), OnionAddress.Listen, Remote, CancellationToken.None);
        await second.Connected.WaitAsync(Patience);
        await (await arrived.Reader.ReadAsync().AsTask().WaitAsync(Patience)).DisposeAsync();
        Assert.Equal(2, introPoint.Relay.Metrics.IntroductionsByOutcome.GetValueOrDefault("forwarded"));
        await inbound.DisposeAsync();
    }

    [Fact]
    public void The_replay_cache_is_bounded_and_forgets_the_oldest_first()
    {
        var cache = new Relay.IntroductionReplayCache(capacity: 2);
        var ids = Enumerable.Range(0, 3).Select(i => Relay.IntroductionReplayCache.IdOf(Enumerable.Repeat((byte)i, Relay.IntroductionRegistry.IntroduceSize).ToArray())).ToList();
        Assert.Equal(3, ids.Distinct().Count());
        foreach (var id in ids) cache.Add(id);
        Assert.Equal(2, cache.Count);
        Assert.False(cache.Contains(ids[0]));
        Assert.True(cache.Contains(ids[1]));
        Assert.True(cache.Contains(ids[2]));
        cache.Add(ids[2]); // already held: nothing forgotten
        Assert.True(cache.Contains(ids[1]));
    }

    [Fact]
    public async Task Unknown_keys_floods_and_registrations_past_the_limit_are_refused_and_counted()
    {
        await using var setup = await RegisteredServiceAsync(o =>
        {
            o.Relay.IntroductionBurst = 2;
            o.Relay.IntroductionsPerSecond = 0.001; // no refill within the test
            o.Relay.MaxIntroductionPoints = 1;
        });
        var (client, introPoint, authKey, arrived, registration) = setup;

        // An auth key nobody registered.
        var unknown = await Assert.ThrowsAsync<OnionStreamException>(() => client.Client.IntroduceAsync(introPoint.PeerId,
            System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), Remote, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(EndReason.NoIntroduction, unknown.Reason);

        // A flood: the burst passes, the rest is refused with a typed reason, counted, and never reaches the service.
        var passed = new List<IRawConnection>();
        int refused = 0;
        for (int i = 0; i < 6; i++)
        {
            try
            {
                passed.Add(await client.Client.IntroduceAsync(introPoint.PeerId, authKey, Remote, CancellationToken.None).WaitAsync(Patience));
            }
            catch (OnionStreamException e)
            {
                Assert.Equal(EndReason.ResourceLimit, e.Reason);
                refused++;
            }
        }
        Assert.Equal(2, passed.Count);
        Assert.Equal(4, refused);
        Assert.Equal(4, introPoint.Relay.Metrics.RelayRefusalsByReason["introduction_rate"]);
        Assert.Equal(4, introPoint.Relay.Metrics.IntroductionsByOutcome["rate"]);
        for (int i = 0; i < 2; i++) await arrived.Reader.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.False(arrived.Reader.TryRead(out _));
        foreach (var raw in passed) raw.Abort();

        // The relay holds one registration at most: a second key is refused (typed), the first keeps working.
        var full = await Assert.ThrowsAsync<IntroductionRefusedException>(() => client.Client.EstablishIntroductionAsync(introPoint.PeerId,
            System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), new EphemeralIdentity(), _ => true, CancellationToken.None)
            .WaitAsync(Patience));
        Assert.Equal(IntroStatus.Full, full.Status);
        // The same key again while its circuit stands.
        var taken = await Assert.ThrowsAsync<IntroductionRefusedException>(() => client.Client.EstablishIntroductionAsync(introPoint.PeerId,
            authKey, new EphemeralIdentity(), _ => true, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(IntroStatus.InUse, taken.Status);
        Assert.Equal(1, introPoint.Relay.Metrics.RelayRefusalsByReason["intro_full"]);
        Assert.Equal(1, introPoint.Relay.Metrics.RelayRefusalsByReason["intro_in_use"]);
        Assert.Equal(1, introPoint.Relay.IntroductionPointCount);
        Assert.False(registration.IsClosed);
    }

    [Fact]
    public async Task An_introduction_to_a_service_circuit_at_its_stream_limit_is_refused_and_counted_as_a_relay_refusal()
    {
        await using var setup = await RegisteredServiceAsync(o => o.Relay.MaxStreamsPerCircuit = 1);
        var (client, introPoint, authKey, arrived, registration) = setup;

        // The first introduction takes the service circuit's one stream; the second (on a circuit of its own, so not at
        // its own limit) finds the service circuit full: END resource_limit, counted both as an outcome and a refusal.
        var first = await client.Client.IntroduceAsync(introPoint.PeerId, authKey, Remote, CancellationToken.None).WaitAsync(Patience);
        var inbound = await arrived.Reader.ReadAsync().AsTask().WaitAsync(Patience);
        var refused = await Assert.ThrowsAsync<OnionStreamException>(() =>
            client.Client.IntroduceAsync(introPoint.PeerId, authKey, Remote, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(EndReason.ResourceLimit, refused.Reason);
        Assert.Equal(1, introPoint.Relay.Metrics.IntroductionsByOutcome.GetValueOrDefault("service_limit"));
        Assert.Equal(1, introPoint.Relay.Metrics.RelayRefusalsByReason.GetValueOrDefault("introduction_service_limit"));
        Assert.Equal(0, introPoint.Relay.Metrics.RelayRefusalsByReason.GetValueOrDefault("max_streams_per_circuit"));
        Assert.False(arrived.Reader.TryRead(out _));
        Assert.False(registration.IsClosed);
        await first.DisposeAsync();
        await inbound.DisposeAsync();
    }

    [Fact]
    public async Task A_client_circuit_ending_right_after_its_INTRODUCE_leaves_no_stream_on_the_service_circuit()
    {
        // The relay joins the service's half of an introduction before it registers the client's stream
        // (RelayCircuit.StartIntroduction). Whichever way the client circuit's end falls against that, the service's
        // stream must end: with one stream per circuit, a stream left behind would refuse every later introduction.
        await using var setup = await RegisteredServiceAsync(o =>
        {
            o.Relay.MaxStreamsPerCircuit = 1;
            o.Relay.IntroductionBurst = 100;
        });
        var (client, introPoint, authKey, arrived, registration) = setup;

        for (int i = 0; i < 8; i++)
        {
            var circuit = await client.Client.GetCircuitAsync(new CircuitRequest { Last = introPoint.PeerId, Isolation = new object() },
                CancellationToken.None).WaitAsync(Patience);
            var stream = await circuit.OpenIntroductionAsync(authKey, OnionAddress.Listen, Remote, CancellationToken.None).WaitAsync(Patience);
            await circuit.CloseAsync(); // DESTROY right behind the INTRODUCE, without waiting for CONNECTED
            await stream.DisposeAsync();
            // Before the next one, the service circuit's one stream must be free again (the join ended), else refused.
            await IntroducedAsync();
        }
        Assert.False(registration.IsClosed);

        // An introduction that goes through, its join closed; retried while a join that ended is still being released.
        async Task IntroducedAsync()
        {
            var deadline = DateTime.UtcNow + Patience;
            while (true)
            {
                while (arrived.Reader.TryRead(out var stale)) await stale.DisposeAsync();
                try
                {
                    var outbound = await client.Client.IntroduceAsync(introPoint.PeerId, authKey, Remote, CancellationToken.None).WaitAsync(Patience);
                    await outbound.DisposeAsync();
                    return;
                }
                catch (OnionStreamException e) when (e.Reason == EndReason.ResourceLimit && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(50);
                }
            }
        }
    }

    /// <summary>
    /// Three relays and two clients: the second client (the service) registered at the first relay (the introduction
    /// point) under a fresh auth key and <see cref="Identity"/>; its introduced connections go to <paramref name="accept"/>,
    /// by default queued in <see cref="Arrived"/>. Disposed registration first, then the network.
    /// </summary>
    private static async Task<RegisteredService> RegisteredServiceAsync(Action<OnionOptions>? relayOptions = null,
        Func<IRawConnection, bool>? accept = null)
    {
        var network = await OnionTestNetwork.StartAsync(relays: 3, clients: 2, relayOptions: relayOptions);
        try
        {
            var authKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
            var identity = new EphemeralIdentity();
            var arrived = Channel.CreateUnbounded<IRawConnection>();
            var registration = await network.Clients[1].Client.EstablishIntroductionAsync(network.Relays[0].PeerId, authKey, identity,
                accept ?? (raw => arrived.Writer.TryWrite(raw)), CancellationToken.None).WaitAsync(Patience);
            return new RegisteredService(network, authKey, identity, arrived, registration);
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    private sealed class RegisteredService(OnionTestNetwork network, byte[] authKey, EphemeralIdentity identity,
        Channel<IRawConnection> arrived, IntroductionCircuit registration) : IAsyncDisposable
    {
        public OnionTestNetwork Network { get; } = network;

        public byte[] AuthKey { get; } = authKey;

        public EphemeralIdentity Identity { get; } = identity;

        public Channel<IRawConnection> Arrived { get; } = arrived;

        public IntroductionCircuit Registration { get; } = registration;

        public OnionNode Client => Network.Clients[0];

        public OnionNode Service => Network.Clients[1];

        public OnionNode IntroPoint => Network.Relays[0];

        public void Deconstruct(out OnionNode client, out OnionNode introPoint, out byte[] authKey, out Channel<IRawConnection> arrived,
            out IntroductionCircuit registration) => (client, introPoint, authKey, arrived, registration) = (Client, IntroPoint, AuthKey, Arrived, Registration);

        public async ValueTask DisposeAsync()
        {
            await Registration.DisposeAsync();
            await Network.DisposeAsync();
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        var result = new byte[count];
        int read = 0;
        while (read < count)
        {
            var chunk = await reader.ReadAsync();
            var take = chunk.Buffer.Slice(0, Math.Min(chunk.Buffer.Length, count - read));
            take.CopyTo(result.AsSpan(read));
            read += (int)take.Length;
            reader.AdvanceTo(take.End);
            if (chunk.IsCompleted && read < count) throw new EndOfStreamException($"{read} of {count} bytes");
        }
        return result;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string message)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, message);
            await Task.Delay(20);
        }
    }
}
