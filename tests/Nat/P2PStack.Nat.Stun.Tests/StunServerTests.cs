using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace P2PStack.Nat.Stun.Tests;

/// <summary>Our client against our server on loopback (the server's wire behaviour against coturn's client side is
/// not tested: coturn's tools are TURN clients; our client is tested against coturn in <see cref="CoturnTests"/>).</summary>
public sealed class StunServerTests : IAsyncLifetime
{
    private StunServer _server = null!;
    private IPEndPoint _endpoint = null!;

    public Task InitializeAsync()
    {
        _server = new StunServer(Options.Create(new StunServerOptions
        {
            Enabled = true,
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            BurstPerSource = 1000,
            RequestsPerSecondPerSource = 1000,
        }));
        _server.StartAsync(CancellationToken.None);
        _endpoint = _server.LocalEndPoint!;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static StunClient Client(Action<StunClientOptions>? configure = null)
    {
        var options = new StunClientOptions { InitialRto = TimeSpan.FromMilliseconds(200), Software = "tests" };
        configure?.Invoke(options);
        return new StunClient(Options.Create(options));
    }

    private static Socket LoopbackSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    [Fact]
    public async Task BindingReportsTheAddressTheRequestCameFrom()
    {
        using var socket = LoopbackSocket();
        var result = await Client().BindingAsync(socket, _endpoint, StunChangeRequest.None, CancellationToken.None);
        Assert.Equal(socket.LocalEndPoint, result.Mapped);
        Assert.Equal(_endpoint, result.ResponseOrigin);
        Assert.Equal(_endpoint, result.ReceivedFrom);
        Assert.Equal("P2PStack", result.Software);
        Assert.Null(result.OtherAddress);
    }

    [Fact]
    public async Task ChangeRequestIsRefusedWith420()
    {
        using var socket = LoopbackSocket();
        var error = await Assert.ThrowsAsync<StunErrorResponseException>(() =>
            Client().BindingAsync(socket, _endpoint, StunChangeRequest.ChangeIp | StunChangeRequest.ChangePort, CancellationToken.None));
        Assert.Equal(420, error.Code);
    }

    [Fact]
    public void OtherMethodsGet400AndGarbageNoAnswer()
    {
        var from = new IPEndPoint(IPAddress.Loopback, 5555);
        var allocate = new StunMessage(0x003, StunClass.Request, new byte[12], []);
        var answer = StunCodec.Decode(_server.Answer(StunCodec.Encode(allocate), from, _endpoint)!);
        Assert.Equal(StunClass.ErrorResponse, answer.Class);
        Assert.Equal(400, answer.Error!.Value.Code);
        Assert.Null(_server.Answer(new byte[40], from, _endpoint));
        var indication = new StunMessage(StunMessage.BindingMethod, StunClass.Indication, new byte[12], []);
        Assert.Null(_server.Answer(StunCodec.Encode(indication), from, _endpoint));
    }

    [Fact]
    public async Task UnansweredRequestsTimeOutWithTypedErrorAfterEveryRetransmission()
    {
        using var silent = LoopbackSocket(); // bound, never answers
        using var socket = LoopbackSocket();
        var client = Client(o =>
        {
            o.InitialRto = TimeSpan.FromMilliseconds(20);
            o.MaxTransmissions = 3;
            o.LastWaitMultiplier = 2;
        });
        var error = await Assert.ThrowsAsync<StunTimeoutException>(() =>
            client.BindingAsync(socket, (IPEndPoint)silent.LocalEndPoint!, StunChangeRequest.None, CancellationToken.None));
        Assert.Contains("3 requests", error.Message);
        int received = 0;
        byte[] buffer = new byte[1500];
        while (silent.Available > 0)
        {
            silent.Receive(buffer);
            received++;
        }
        Assert.Equal(3, received);
    }

    [Fact]
    public async Task ClientIgnoresGarbageAndForeignTransactionsThenTakesTheAnswer()
    {
        using var fake = LoopbackSocket();
        using var socket = LoopbackSocket();
        using var listener = new MeterListener();
        long malformed = 0;
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "p2pstack_stun_malformed_total") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref malformed, value));
        listener.Start();
        using var metrics = new StunMetrics();
        var client = new StunClient(Options.Create(new StunClientOptions { InitialRto = TimeSpan.FromSeconds(5) }), metrics);
        var binding = client.BindingAsync(socket, (IPEndPoint)fake.LocalEndPoint!, StunChangeRequest.None, CancellationToken.None);

        byte[] buffer = new byte[1500];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        int n = fake.ReceiveFrom(buffer, ref from);
        var request = StunCodec.Decode(buffer.AsSpan(0, n));
        var mapped = new IPEndPoint(IPAddress.Parse("198.51.100.7"), 40000);
        byte[] Response(ReadOnlySpan<byte> tid)
        {
            byte[] value = new byte[8];
            StunAddress.EncodeXor(mapped, tid, value);
            return StunCodec.Encode(new StunMessage(StunMessage.BindingMethod, StunClass.SuccessResponse, tid,
                [new StunAttribute(StunAttributeType.XorMappedAddress, value)]));
        }
        byte[] broken = Response(request.TransactionId);
        broken[^1] ^= 0xFF; // bad fingerprint
        fake.SendTo(broken, from);
        fake.SendTo("not stun at all"u8.ToArray(), from);
        fake.SendTo(Response(new byte[12]), from); // another transaction
        fake.SendTo(Response(request.TransactionId), from);

        var result = await binding.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(mapped, result.Mapped);
        Assert.Equal(1, result.Transmissions);
        listener.RecordObservableInstruments();
        Assert.True(Interlocked.Read(ref malformed) >= 1);
    }

    [Fact]
    public async Task UnknownComprehensionRequiredAttributeInAResponseFailsTheTransaction()
    {
        using var fake = LoopbackSocket();
        using var socket = LoopbackSocket();
        var binding = Client().BindingAsync(socket, (IPEndPoint)fake.LocalEndPoint!, StunChangeRequest.None, CancellationToken.None);
        byte[] buffer = new byte[1500];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        int n = fake.ReceiveFrom(buffer, ref from);
        var request = StunCodec.Decode(buffer.AsSpan(0, n));
        byte[] value = new byte[8];
        StunAddress.EncodeXor(new IPEndPoint(IPAddress.Loopback, 1), request.TransactionId, value);
        fake.SendTo(StunCodec.Encode(new StunMessage(StunMessage.BindingMethod, StunClass.SuccessResponse, request.TransactionId,
            [new StunAttribute(StunAttributeType.XorMappedAddress, value), new StunAttribute(0x7777, new byte[4])])), from);
        await Assert.ThrowsAsync<StunFormatException>(() => binding.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void EachSourceIsRateLimitedAndTheSourceTableIsBounded()
    {
        var time = new ManualTime();
        var server = new StunServer(Options.Create(new StunServerOptions
        {
            Enabled = true,
            BurstPerSource = 3,
            RequestsPerSecondPerSource = 1,
            MaxTrackedSources = 2,
        }), timeProvider: time);
        byte[] request = StunCodec.Encode(new StunMessage(StunMessage.BindingMethod, StunClass.Request, new byte[12], []));
        var local = new IPEndPoint(IPAddress.Loopback, 3478);
        var a = new IPEndPoint(IPAddress.Parse("198.51.100.1"), 1000);
        int answered = Enumerable.Range(0, 10).Count(_ => server.Answer(request, a, local) is not null);
        Assert.Equal(3, answered);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, Enumerable.Range(0, 10).Count(_ => server.Answer(request, a, local) is not null));

        Assert.NotNull(server.Answer(request, new IPEndPoint(IPAddress.Parse("198.51.100.2"), 1), local));
        Assert.Null(server.Answer(request, new IPEndPoint(IPAddress.Parse("198.51.100.3"), 1), local)); // table full
        time.Advance(TimeSpan.FromSeconds(10)); // buckets refilled: prunable
        Assert.NotNull(server.Answer(request, new IPEndPoint(IPAddress.Parse("198.51.100.3"), 1), local));
    }

    private sealed class ManualTime : TimeProvider
    {
        private long _ticks = 1;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
