using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.IO;
using P2PStack.Nat.Relay.Pb;
using P2PStack.Nat.Testing;
using P2PStack.Network;

namespace P2PStack.Nat.Relay.Tests;

/// <summary>The relay service between real hosts on loopback; the target's stop side is a small test handler that
/// accepts and echoes (the relay transport, which upgrades the stream to a connection, has its own tests).</summary>
// IAsyncLifetime, not IAsyncDisposable: xUnit 2 never calls IAsyncDisposable.DisposeAsync on a test class, so what
// the test started (hosts, processes, metric listeners) would outlive it.
// One collection with RelayTransportTests: both start relays, and the metric capture listens to every instance of the
// relay meter in the process, so a circuit of the other class running in parallel was counted here (2 where 1 is asserted).
[Collection("relay meter")]
public sealed class RelayServiceTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly List<TestPeer> _peers = [];
    private readonly MetricCapture _metrics = new(RelayMetrics.MeterName);

    private static CancellationToken Ct() => new CancellationTokenSource(Timeout).Token;

    private async Task<TestPeer> RelayAsync(Action<RelayServiceOptions>? configure = null)
    {
        var relay = await TestPeer.StartAsync(p => p.AddCircuitRelay(o =>
        {
            o.Enabled = true;
            o.AllowPrivateAddresses = true;
            configure?.Invoke(o);
        }));
        _peers.Add(relay);
        return relay;
    }

    private async Task<TestPeer> ClientAsync(bool echoStop = false)
    {
        // The echoing target serves the stop protocol itself (raw bytes, no upgrade), so it has no relay transport.
        var peer = await TestPeer.StartAsync(p =>
        {
            if (echoStop) p.AddProtocol<EchoStop>();
            else p.AddCircuitRelay();
        });
        _peers.Add(peer);
        return peer;
    }

    [Fact]
    public async Task ReservationCarriesExpiryRelayAddressesAVoucherAndTheLimits()
    {
        var relay = await RelayAsync(o =>
        {
            o.ReservationTtl = TimeSpan.FromMinutes(30);
            o.LimitDuration = TimeSpan.FromMinutes(2);
            o.LimitData = 1 << 17;
        });
        var client = await ClientAsync();
        await client.Host.DialAsync(relay.Address, Ct());
        var reservation = await client.Get<RelayClient>().ReserveAsync(relay.Host.PeerId, Ct());
        Assert.InRange(reservation.Expire, DateTimeOffset.UtcNow.AddMinutes(29), DateTimeOffset.UtcNow.AddMinutes(31));
        Assert.Contains(relay.Address, reservation.Addresses);
        Assert.Equal(relay.Address.Encapsulate("/p2p-circuit"), reservation.CircuitAddresses[0]);
        Assert.NotNull(reservation.Voucher);
        Assert.Equal(relay.Host.PeerId, reservation.Voucher!.Relay);
        Assert.Equal(client.Host.PeerId, reservation.Voucher.Peer);
        Assert.Equal(new RelayLimit(TimeSpan.FromMinutes(2), 1 << 17), reservation.Limit);

        await client.Get<RelayClient>().ReserveAsync(relay.Host.PeerId, Ct()); // a refresh
        Assert.Equal(1, relay.Get<RelayService>().ReservationCount);
    }

    [Fact]
    public async Task ReservationFloodFromOneIpIsRefusedAndCounted()
    {
        var relay = await RelayAsync(o => o.MaxReservationsPerIp = 2);
        for (int i = 0; i < 3; i++)
        {
            var client = await ClientAsync();
            await client.Host.DialAsync(relay.Address, Ct());
            var reserve = client.Get<RelayClient>().ReserveAsync(relay.Host.PeerId, Ct());
            if (i < 2)
            {
                await reserve;
                continue;
            }
            var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => reserve);
            Assert.Equal(Status.ReservationRefused, refused.Status);
        }
        Assert.Equal(1, _metrics.Sum("p2pstack_relay_reservation_requests_total", "result=refused_per_ip"));
        Assert.Equal(2, relay.Get<RelayService>().ReservationCount);
    }

    [Fact]
    public async Task ConnectWithoutReservationIsRefused()
    {
        var relay = await RelayAsync();
        var source = await ClientAsync();
        var target = await ClientAsync();
        await source.Host.DialAsync(relay.Address, Ct());
        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() =>
            source.Get<RelayClient>().ConnectAsync(relay.Host.PeerId, target.Host.PeerId, Ct()));
        Assert.Equal(Status.NoReservation, refused.Status);
    }

    [Fact]
    public async Task RelayedBytesFlowBothWaysAndAreCounted()
    {
        var (relay, source, target) = await CircuitAsync();
        var (stream, limit) = await source.Get<RelayClient>().ConnectAsync(relay.Host.PeerId, target.Host.PeerId, Ct());
        await using (stream)
        {
            Assert.Equal(new RelayLimit(TimeSpan.FromMinutes(2), 128 * 1024), limit);
            byte[] sent = RandomNumberGenerator.GetBytes(50_000);
            byte[] echoed = await EchoAsync(stream, sent);
            Assert.Equal(sent, echoed);
        }
        Assert.True(_metrics.Sum("p2pstack_relayed_bytes_total") >= 100_000);
        Assert.Equal(1, _metrics.Sum("p2pstack_relay_circuit_requests_total", "result=ok"));
    }

    [Fact]
    public async Task DataLimitCutsTheCircuitAndResetsBothEnds()
    {
        var (relay, source, target) = await CircuitAsync(o => o.LimitData = 10_000);
        var (stream, limit) = await source.Get<RelayClient>().ConnectAsync(relay.Host.PeerId, target.Host.PeerId, Ct());
        await using (stream)
        {
            Assert.Equal(10_000, limit.Data);
            var writing = stream.Output.WriteAsync(new byte[100_000], Ct()).AsTask();
            long received = 0;
            var error = await Record.ExceptionAsync(async () =>
            {
                while (true)
                {
                    var result = await stream.Input.ReadAsync(Ct());
                    received += result.Buffer.Length;
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
            });
            Assert.True(error is IOException || received <= 10_000, $"received {received}, error {error}");
            Assert.InRange(received, 0, 10_000);
            await Record.ExceptionAsync(() => writing);
        }
        await Poll.UntilAsync(() => _metrics.Sum("p2pstack_relay_circuits_closed_total", "reason=data_limit") == 1);
        await Poll.UntilAsync(() => relay.Get<RelayService>().CircuitCount == 0);
    }

    [Fact]
    public async Task DurationLimitEndsTheCircuit()
    {
        var (relay, source, target) = await CircuitAsync(o => o.LimitDuration = TimeSpan.FromSeconds(1));
        var (stream, limit) = await source.Get<RelayClient>().ConnectAsync(relay.Host.PeerId, target.Host.PeerId, Ct());
        await using (stream)
        {
            Assert.Equal(TimeSpan.FromSeconds(1), limit.Duration);
            await Assert.ThrowsAnyAsync<IOException>(async () =>
            {
                while (true)
                {
                    var result = await stream.Input.ReadAsync(Ct());
                    stream.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) throw new EndOfStreamException();
                }
            });
        }
        await Poll.UntilAsync(() => _metrics.Sum("p2pstack_relay_circuits_closed_total", "reason=duration_limit") == 1);
    }

    [Fact]
    public async Task CircuitsPerPeerAreBounded()
    {
        var (relay, source, target) = await CircuitAsync(o => o.MaxCircuitsPerPeer = 1);
        var (first, _) = await source.Get<RelayClient>().ConnectAsync(relay.Host.PeerId, target.Host.PeerId, Ct());
        await using (first)
        {
            var refused = await Assert.ThrowsAsync<RelayRefusedException>(() =>
                source.Get<RelayClient>().ConnectAsync(relay.Host.PeerId, target.Host.PeerId, Ct()));
            Assert.Equal(Status.ResourceLimitExceeded, refused.Status);
        }
    }

    [Fact]
    public async Task MalformedAndOversizedHopMessagesAreAnsweredOrCutAndCounted()
    {
        var relay = await RelayAsync();
        var client = await ClientAsync();
        await client.Host.DialAsync(relay.Address, Ct());
        var stream = await client.Host.OpenStreamAsync(relay.Host.PeerId, [RelayProtocol.Hop], Ct());
        await using (stream)
        {
            LengthPrefixed.WriteMessage(stream.Output, [0x08, 0x01, 0x12]); // type CONNECT, then a truncated field
            await stream.Output.FlushAsync();
            var answer = await ProtobufFraming.ReadAsync(stream.Input, HopMessage.Parser, 4096, (r, e) => new RelayFormatException(r, e), Ct());
            Assert.Equal(Status.MalformedMessage, answer.Status);
        }
        var oversized = await client.Host.OpenStreamAsync(relay.Host.PeerId, [RelayProtocol.Hop], Ct());
        await using (oversized)
        {
            LengthPrefixed.WritePrefix(oversized.Output, 1 << 20);
            await oversized.Output.FlushAsync();
            var answer = await ProtobufFraming.ReadAsync(oversized.Input, HopMessage.Parser, 4096, (r, e) => new RelayFormatException(r, e), Ct());
            Assert.Equal(Status.MalformedMessage, answer.Status);
        }
        Assert.Equal(2, _metrics.Sum("p2pstack_relay_reservation_requests_total", "result=malformed"));
    }

    private async Task<(TestPeer Relay, TestPeer Source, TestPeer Target)> CircuitAsync(Action<RelayServiceOptions>? configure = null)
    {
        var relay = await RelayAsync(configure);
        var source = await ClientAsync();
        var target = await ClientAsync(echoStop: true);
        await target.Host.DialAsync(relay.Address, Ct());
        await new RelayClient(target.Host, Microsoft.Extensions.Options.Options.Create(new RelayClientOptions())).ReserveAsync(relay.Host.PeerId, Ct());
        await source.Host.DialAsync(relay.Address, Ct());
        return (relay, source, target);
    }

    private static async Task<byte[]> EchoAsync(IDuplexPipe stream, byte[] payload)
    {
        var reading = Task.Run(async () =>
        {
            var received = new ArrayBufferWriter<byte>();
            while (received.WrittenCount < payload.Length)
            {
                var result = await stream.Input.ReadAsync(Ct());
                foreach (var segment in result.Buffer) received.Write(segment.Span);
                stream.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
            return received.WrittenSpan.ToArray();
        });
        await stream.Output.WriteAsync(payload, Ct());
        return await reading;
    }


    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var peer in _peers) await peer.DisposeAsync();
        _metrics.Dispose();
    }

    /// <summary>The target's stop side for these tests: accepts every CONNECT, then echoes.</summary>
    public sealed class EchoStop : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols { get; } = [RelayProtocol.Stop];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                var connect = await ProtobufFraming.ReadAsync(stream.Input, StopMessage.Parser, 4096, (r, e) => new RelayFormatException(r, e), cancellationToken);
                Assert.Equal(StopMessage.Types.Type.Connect, connect.Type);
                await ProtobufFraming.WriteAsync(stream.Output, new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.Ok }, cancellationToken);
                try
                {
                    await stream.Input.CopyToAsync(stream.Output, cancellationToken);
                    await stream.Output.CompleteAsync();
                }
                catch (IOException)
                {
                    // reset by the relay at a limit
                }
            }
        }
    }
}
