using System.Text.Json.Nodes;
using P2PStack.Network;
using static P2PStack.Interop.Tests.Interop;

namespace P2PStack.Interop.Tests;

/// <summary>The js-libp2p peer dials our host, over TCP and over WebSocket. Each test runs a fresh host of ours.</summary>
public sealed class JsDialsCSharpTests(JsPeerFixture fixture) : IClassFixture<JsPeerFixture>
{
    private readonly JsPeer _js = fixture.Peer;

    public static TheoryData<string> Transports => new() { "tcp", "ws" };

    private static JsonObject Target(OurPeer ours, string transport, JsonObject? fields = null)
    {
        fields ??= [];
        fields["addr"] = ours.Address(transport).ToString();
        return fields;
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Connects_with_noise_and_yamux(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var connected = NextEvent<PeerConnected>(ours.Host.Events, e => e.Connection.RemotePeer == _js.PeerId, out var subscription);
        using (subscription)
        {
            var answer = await _js.CommandAsync("dial", Target(ours, transport), StepTimeout);
            Assert.Equal(ours.Host.PeerId.ToString(), answer["remotePeer"]!.GetValue<string>());
            Assert.Equal(NoiseProtocol, answer["encryption"]!.GetValue<string>());
            Assert.Equal(YamuxProtocol, answer["multiplexer"]!.GetValue<string>());

            var connection = (await connected.WaitAsync(StepTimeout)).Connection;
            Assert.Equal(Direction.Inbound, connection.Direction);
            Assert.Equal(transport, connection.Transport);
            Assert.Equal(NoiseProtocol, connection.SecurityProtocol);
            Assert.Equal(YamuxProtocol, connection.Muxer);
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Identify_both_ways(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var identified = NextEvent<PeerIdentified>(ours.Host.Events, e => e.Peer == _js.PeerId, out var subscription);
        using (subscription)
        {
            await _js.CommandAsync("dial", Target(ours, transport), StepTimeout);
            // We identify inbound connections too.
            await identified.WaitAsync(StepTimeout);
        }

        var answer = await _js.CommandAsync("identify", new JsonObject { ["peer"] = ours.Host.PeerId.ToString() }, StepTimeout);
        Assert.Equal(ours.Host.Protocols.Order(), Strings(answer["protocols"]).Order());
        Assert.Contains("/ipfs/ping/1.0.0", Strings(answer["protocols"]));
        Assert.Contains(EchoHandler.Protocol, Strings(answer["protocols"]));
        Assert.Equal(ours.Host.AdvertisedAddresses.Select(a => a.ToString()).Order(),
            Strings(answer["listenAddrs"]).Select(WithoutPeerId).Order());
        Assert.True(answer["signedPeerRecord"]!.GetValue<bool>(), "js did not receive our signed peer record");

        var store = ours.Host.PeerStore;
        Assert.Equal(_js.Protocols.Order(), store.GetProtocols(_js.PeerId).Order());
        var known = store.GetAddresses(_js.PeerId).Select(a => a.ToString()).ToHashSet();
        foreach (var address in _js.Addresses) Assert.Contains(WithoutPeerId(address), known);
        // js saw our side of the connection: it must report an address on our host, a port we did not listen on.
        Assert.StartsWith("/ip4/127.0.0.1/tcp/", answer["observedAddr"]?.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Ping(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var answer = await _js.CommandAsync("ping", Target(ours, transport, new JsonObject { ["count"] = 5 }), StepTimeout);
        var rtts = answer["rtts"]!.AsArray().Select(r => r!.GetValue<double>()).ToArray();
        Assert.Equal(5, rtts.Length);
        Assert.All(rtts, rtt => Assert.InRange(rtt, 0.0, StepTimeout.TotalMilliseconds));
        Assert.Equal(WithoutPeerId(ours.Address(transport)), WithoutPeerId(answer["remoteAddr"]!.GetValue<string>()));

        // js-libp2p's own ping client: one ping, then it closes its write side.
        var service = await _js.CommandAsync("ping", Target(ours, transport, new JsonObject { ["service"] = true }), StepTimeout);
        Assert.InRange(service["rttMs"]!.GetValue<double>(), 0.0, StepTimeout.TotalMilliseconds);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Echo_16_MiB_intact(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        // js sends fresh random bytes and compares the answer (length and SHA-256) before answering ok.
        var answer = await _js.CommandAsync("echo",
            Target(ours, transport, new JsonObject { ["bytes"] = EchoPayload, ["streams"] = 1 }), BulkTimeout);
        Assert.Equal(EchoPayload, answer["bytes"]!.GetValue<int>());
        Assert.Single(answer["sha256"]!.AsArray());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Echo_on_200_concurrent_streams(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var answer = await _js.CommandAsync("echo", Target(ours, transport,
            new JsonObject { ["bytes"] = ConcurrentStreamPayload, ["streams"] = ConcurrentStreams }), BulkTimeout);
        Assert.Equal(ConcurrentStreams, answer["streams"]!.GetValue<int>());
        Assert.Equal(ConcurrentStreams, Strings(answer["sha256"]).Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Perf_upload_and_download(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        const int Size = 4 * 1024 * 1024;
        var answer = await _js.CommandAsync("perf",
            Target(ours, transport, new JsonObject { ["upload"] = Size, ["download"] = Size }), BulkTimeout);
        Assert.Equal(Size, answer["upload"]!.GetValue<int>());
        Assert.Equal(Size, answer["download"]!.GetValue<int>());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Wrong_peer_id_is_refused(string transport)
    {
        await using var ours = await OurPeer.StartAsync();
        var address = WithWrongPeerId(ours.Address(transport), out var wrong);

        var answer = await _js.TryCommandAsync("dial", new JsonObject { ["addr"] = address.ToString() }, StepTimeout);
        Assert.False(answer["ok"]!.GetValue<bool>(), $"js connected to {address} although {ours.Host.PeerId} answered");
        Assert.False(string.IsNullOrEmpty(answer["error"]?.GetValue<string>()));
        var peers = await _js.CommandAsync("peers");
        Assert.DoesNotContain(peers["connections"]!.AsArray(), c => c!["remotePeer"]!.GetValue<string>() == wrong.ToString());
    }
}
