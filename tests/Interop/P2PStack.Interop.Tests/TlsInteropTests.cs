using System.Text.Json.Nodes;
using P2PStack.Protocols.Ping;
using P2PStack.Security.Tls;
using static P2PStack.Interop.Tests.Interop;

namespace P2PStack.Interop.Tests;

/// <summary>libp2p TLS against js @libp2p/tls on a js peer that speaks TLS only: we offer the Noise suites first and
/// fall back to /tls/1.0.0; the muxer is agreed inside the handshake through ALPN.</summary>
public sealed class TlsInteropTests : IAsyncLifetime
{
    private JsPeer _js = null!;

    public async Task InitializeAsync() => _js = await JsPeer.StartAsync(["--encrypters", "tls"]);

    public Task DisposeAsync() => _js.DisposeAsync().AsTask();

    [Theory]
    [InlineData("tcp")]
    [InlineData("ws")]
    public async Task We_dial_js_over_tls_and_ping(string transport)
    {
        await using var ours = await OurPeer.StartAsync(p2p => p2p.AddTls());
        var connection = await ours.Host.DialAsync(_js.Address(transport), CancellationToken.None).AsTask().WaitAsync(StepTimeout);
        Assert.Equal(_js.PeerId, connection.RemotePeer);
        Assert.Equal(TlsSecureChannel.Protocol, connection.SecurityProtocol);
        Assert.Equal(YamuxProtocol, connection.Muxer);
        var rtts = await ours.Get<PingService>().PingAsync(_js.PeerId, 3, CancellationToken.None).WaitAsync(StepTimeout);
        Assert.Equal(3, rtts.Count);
        await EchoHandler.RoundTripAsync(connection, 1 << 20, CancellationToken.None).WaitAsync(BulkTimeout);

        var seen = await JsConnectionTo(_js, ours.Host.PeerId);
        Assert.Equal(TlsSecureChannel.Protocol, seen["encryption"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("tcp")]
    [InlineData("ws")]
    public async Task Js_dials_us_over_tls_and_pings(string transport)
    {
        await using var ours = await OurPeer.StartAsync(p2p => p2p.AddTls());
        var answer = await _js.CommandAsync("ping", new JsonObject { ["addr"] = ours.Address(transport).ToString(), ["count"] = 3 });
        Assert.Equal(3, answer["rtts"]!.AsArray().Count);
        var connection = Assert.Single(ours.Host.GetConnections(_js.PeerId));
        Assert.Equal(TlsSecureChannel.Protocol, connection.SecurityProtocol);
        Assert.Equal(YamuxProtocol, connection.Muxer);
        var echo = await _js.CommandAsync("echo", new JsonObject { ["addr"] = ours.Address(transport).ToString(), ["bytes"] = 1 << 20 });
        Assert.Single(echo["sha256"]!.AsArray());
    }

    [Fact]
    public async Task A_wrong_expected_peer_id_is_refused_over_tls()
    {
        await using var ours = await OurPeer.StartAsync(p2p => p2p.AddTls());
        var address = WithWrongPeerId(_js.TcpAddress, out var wrong);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ours.Host.DialAsync(address, CancellationToken.None).AsTask().WaitAsync(StepTimeout));
        Assert.Contains(wrong.ToString(), error.ToString());
    }
}
