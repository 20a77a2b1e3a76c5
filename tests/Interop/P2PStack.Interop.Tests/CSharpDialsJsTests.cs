using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Perf;
using P2PStack.Protocols.Ping;
using P2PStack.Testing;
using static P2PStack.Interop.Tests.Interop;

namespace P2PStack.Interop.Tests;

/// <summary>Our host dials the js-libp2p peer, over TCP and over WebSocket. Each test runs a fresh host of ours.</summary>
public sealed class CSharpDialsJsTests(JsPeerFixture fixture) : IClassFixture<JsPeerFixture>
{
    private readonly JsPeer _js = fixture.Peer;

    public static TheoryData<string> Transports => new() { "tcp", "ws" };

    private async Task<IConnection> DialAsync(OurPeer ours, string transport) =>
        await ours.Host.DialAsync(_js.Address(transport), CancellationToken.None).AsTask().WaitAsync(StepTimeout);

    private async Task<IConnection> DialAsync(OurPeer ours, string transport, DialOptions options) =>
        await ours.Host.DialAsync(_js.Address(transport), options, CancellationToken.None).AsTask().WaitAsync(StepTimeout);

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Connects_with_noise_fallback_and_yamux(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var connection = await DialAsync(ours, transport);

        Assert.Equal(_js.PeerId, connection.RemotePeer);
        Assert.Equal(Direction.Outbound, connection.Direction);
        Assert.Equal(transport, connection.Transport);
        // We offer the hybrid suites first; js answers na to them and multistream-select falls back to /noise.
        Assert.Equal(NoiseProtocol, connection.SecurityProtocol);
        Assert.Equal(YamuxProtocol, connection.Muxer);

        var seen = await JsConnectionTo(_js, ours.Host.PeerId);
        Assert.Equal("inbound", seen["direction"]!.GetValue<string>());
        Assert.Equal(NoiseProtocol, seen["encryption"]!.GetValue<string>());
        Assert.Equal(YamuxProtocol, seen["multiplexer"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_fallback_to_noise_is_not_remembered_but_a_first_choice_is_proposed_optimistically(string transport)
    {
        var trace = new WireTraceProtector();
        await using var ours = await OurPeer.StartAsync(p2p => p2p.Services.AddSingleton<IConnectionProtector>(trace));

        // js-libp2p offers /noise only: each hybrid proposal costs a round trip before its na (docs/specs/noise-mlkem-hfs.md).
        string[] fullOffer = [HybridNoiseProtocol, "/noise-mlkem1024-hfs/0.1.0", "/noise-mlkem512-hfs/0.1.0", NoiseProtocol];
        Assert.Equal(NoiseProtocol, (await DialAsync(ours, transport)).SecurityProtocol);
        var full = trace.Connections[0].DialerHandshake();
        Assert.Equal(fullOffer, full.Proposals);
        Assert.Equal(5, full.RoundTrips); // 2 with a peer that takes the first proposal
        await ours.Host.DisconnectAsync(_js.PeerId, CancellationToken.None).AsTask().WaitAsync(StepTimeout);

        // The fallback is not replayed (a refusal must not downgrade later dials): the second dial negotiates in full.
        Assert.Equal(NoiseProtocol, (await DialAsync(ours, transport)).SecurityProtocol);
        Assert.Equal(fullOffer, trace.Connections[1].DialerHandshake().Proposals);
        await ours.Host.DisconnectAsync(_js.PeerId, CancellationToken.None).AsTask().WaitAsync(StepTimeout);

        // A dialer whose first choice is /noise remembers it, and js's listener takes the header, the proposal and
        // Noise message 1 in one write.
        var classical = new DialOptions { SecurityProtocols = [NoiseProtocol] };
        Assert.Equal(NoiseProtocol, (await DialAsync(ours, transport, classical)).SecurityProtocol);
        await ours.Host.DisconnectAsync(_js.PeerId, CancellationToken.None).AsTask().WaitAsync(StepTimeout);
        var second = await DialAsync(ours, transport, classical);
        Assert.Equal(NoiseProtocol, second.SecurityProtocol);
        Assert.Equal(4, trace.Connections.Count); // no retry
        var optimistic = trace.Connections[3].DialerHandshake();
        Assert.Equal([NoiseProtocol], optimistic.Proposals);
        Assert.Equal(1, optimistic.RoundTrips);
        Assert.Single(await ours.Get<PingService>().PingAsync(_js.PeerId, 1, CancellationToken.None).WaitAsync(StepTimeout));
        Assert.Equal(NoiseProtocol, (await JsConnectionTo(_js, ours.Host.PeerId))["encryption"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Identify_both_ways(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var identified = NextEvent<PeerIdentified>(ours.Host.Events, e => e.Peer == _js.PeerId, out var subscription);
        using (subscription)
        {
            await DialAsync(ours, transport);
            await identified.WaitAsync(StepTimeout);
        }

        // Our peer store: js's protocols and listen addresses (from its signed peer record or listenAddrs).
        var store = ours.Host.PeerStore;
        var jsProtocols = store.GetProtocols(_js.PeerId);
        Assert.Equal(_js.Protocols.Order(), jsProtocols.Order());
        Assert.Contains("/ipfs/ping/1.0.0", jsProtocols);
        Assert.Contains(EchoHandler.Protocol, jsProtocols);
        var known = store.GetAddresses(_js.PeerId).Select(a => a.ToString()).ToHashSet();
        foreach (var address in _js.Addresses) Assert.Contains(WithoutPeerId(address), known);
        Assert.Equal(_js.PeerId, store.GetPublicKey(_js.PeerId) is { } key ? Identity.PeerId.FromPublicKey(key) : null);
        Assert.StartsWith("js-libp2p/", store.GetMetadata(_js.PeerId, IdentifyService.AgentVersionKey));

        // js's view of us, from the identify exchange js ran on the new connection.
        var answer = await _js.CommandAsync("identify", new JsonObject { ["peer"] = ours.Host.PeerId.ToString() }, StepTimeout);
        Assert.Equal(ours.Host.Protocols.Order(), Strings(answer["protocols"]).Order());
        Assert.Contains(EchoHandler.Protocol, Strings(answer["protocols"]));
        Assert.Equal(ours.Host.AdvertisedAddresses.Select(a => a.ToString()).Order(),
            Strings(answer["listenAddrs"]).Select(WithoutPeerId).Order());
        Assert.True(answer["signedPeerRecord"]!.GetValue<bool>(), "js did not receive our signed peer record");
        var jsAddresses = answer["addresses"]!.AsArray().Select(a => WithoutPeerId(a!["addr"]!.GetValue<string>())).ToHashSet();
        foreach (var address in ours.Host.AdvertisedAddresses) Assert.Contains(address.ToString(), jsAddresses);
        Assert.Equal("p2pstack/0.1.0", answer["agentVersion"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Identify_push_tells_js_about_a_new_protocol(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var identified = NextEvent<PeerIdentified>(ours.Host.Events, e => e.Peer == _js.PeerId, out var subscription);
        using (subscription)
        {
            await DialAsync(ours, transport);
            await identified.WaitAsync(StepTimeout);
        }
        var target = new JsonObject { ["peer"] = ours.Host.PeerId.ToString() };
        Assert.DoesNotContain(ExtraProtocolHandler.Protocol, Strings((await _js.CommandAsync("identify", target, StepTimeout))["protocols"]));

        using var registration = ours.Host.AddHandler(new ExtraProtocolHandler());
        var deadline = DateTime.UtcNow + StepTimeout;
        string[] protocols;
        do
        {
            protocols = Strings((await _js.CommandAsync("identify", target, StepTimeout))["protocols"]);
            if (protocols.Contains(ExtraProtocolHandler.Protocol)) break;
            await Task.Delay(20);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal(ours.Host.Protocols.Order(), protocols.Order());
    }

    private sealed class ExtraProtocolHandler : IProtocolHandler
    {
        public const string Protocol = "/p2pstack/interop-extra/1.0.0";

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken) => await stream.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Ping(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        await DialAsync(ours, transport);
        var rtts = await ours.Get<PingService>().PingAsync(_js.PeerId, 5, CancellationToken.None).WaitAsync(StepTimeout);

        Assert.Equal(5, rtts.Count);
        Assert.All(rtts, rtt => Assert.InRange(rtt, TimeSpan.FromTicks(1), StepTimeout));
        var latency = ours.Host.PeerStore.GetLatency(_js.PeerId);
        Assert.NotNull(latency);
        Assert.True(latency.Samples >= 5, $"latency samples: {latency.Samples}");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Echo_16_MiB_intact(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var connection = await DialAsync(ours, transport);
        await EchoHandler.RoundTripAsync(connection, EchoPayload, CancellationToken.None).WaitAsync(BulkTimeout);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Echo_on_200_concurrent_streams(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var connection = await DialAsync(ours, transport);
        var hashes = await Task.WhenAll(Enumerable.Range(0, ConcurrentStreams)
            .Select(_ => EchoHandler.RoundTripAsync(connection, ConcurrentStreamPayload, CancellationToken.None))).WaitAsync(BulkTimeout);
        Assert.Equal(ConcurrentStreams, hashes.Distinct().Count());
        // Every stream was released (js's own identify stream on this connection may still be closing).
        await Eventually(() => connection.StreamCount == 0, () => $"{connection.StreamCount} streams still open");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Perf_upload_and_download(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        await DialAsync(ours, transport);
        const ulong Size = 4 * 1024 * 1024;
        var result = await ours.Get<PerfService>().RunAsync(_js.PeerId, Size, Size, CancellationToken.None).WaitAsync(BulkTimeout);
        Assert.Equal(Size, result.UploadBytes);
        Assert.Equal(Size, result.DownloadBytes);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Close_lets_an_open_stream_finish_then_ends_the_connection(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var connection = await DialAsync(ours, transport);
        await using var stream = await connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None).AsTask().WaitAsync(StepTimeout);
        byte[] payload = System.Security.Cryptography.RandomNumberGenerator.GetBytes(4096);
        await stream.Output.WriteAsync(payload.AsMemory(0, 2048));

        // js-libp2p drops every open stream when it receives a yamux go-away: ours must wait for the drain.
        var closing = connection.CloseAsync(CancellationToken.None).AsTask();
        await stream.Output.WriteAsync(payload.AsMemory(2048));
        await stream.Output.CompleteAsync();
        var echoed = new List<byte>();
        while (true)
        {
            var read = await stream.Input.ReadAsync().AsTask().WaitAsync(StepTimeout);
            foreach (var segment in read.Buffer) echoed.AddRange(segment.ToArray());
            stream.Input.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted) break;
        }
        Assert.Equal(payload, echoed.ToArray());
        await stream.DisposeAsync();

        await closing.WaitAsync(StepTimeout);
        await connection.Completion.WaitAsync(StepTimeout);
        Assert.Empty(ours.Host.GetConnections());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Wrong_peer_id_is_refused(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var address = WithWrongPeerId(_js.Address(transport), out var wrong);

        var error = await Assert.ThrowsAsync<PeerIdMismatchException>(
            () => ours.Host.DialAsync(address, CancellationToken.None).AsTask().WaitAsync(StepTimeout));
        Assert.Equal(wrong, error.Expected);
        Assert.Equal(_js.PeerId, error.Actual);
        Assert.Empty(ours.Host.GetConnections());
    }
}
