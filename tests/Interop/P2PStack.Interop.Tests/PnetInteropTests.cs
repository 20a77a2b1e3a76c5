using System.Text.Json.Nodes;
using P2PStack.Protocols.Ping;
using P2PStack.Security.Pnet;
using static P2PStack.Interop.Tests.Interop;

namespace P2PStack.Interop.Tests;

/// <summary>libp2p private networks against js @libp2p/pnet: the same swarm key file on both sides.</summary>
public sealed class PnetInteropTests : IAsyncLifetime
{
    private readonly string _keyFile = Path.Combine(Path.GetTempPath(), $"p2pstack-swarm-{Guid.NewGuid():N}.key");
    private readonly SwarmKey _key = SwarmKey.Generate();
    private JsPeer _js = null!;

    public async Task InitializeAsync()
    {
        _key.Save(_keyFile);
        _js = await JsPeer.StartAsync(["--psk", _keyFile]);
    }

    public async Task DisposeAsync()
    {
        await _js.DisposeAsync();
        File.Delete(_keyFile);
    }

    [Fact]
    public async Task We_dial_js_with_the_same_key_and_ping()
    {
        await using var ours = await OurPeer.StartAsync(p2p => p2p.AddPrivateNetwork(SwarmKey.Load(_keyFile)));
        var connection = await ours.Host.DialAsync(_js.TcpAddress, CancellationToken.None).AsTask().WaitAsync(StepTimeout);
        Assert.Equal(_js.PeerId, connection.RemotePeer);
        var rtts = await ours.Get<PingService>().PingAsync(_js.PeerId, 3, CancellationToken.None).WaitAsync(StepTimeout);
        Assert.Equal(3, rtts.Count);
    }

    [Fact]
    public async Task Js_dials_us_with_the_same_key_and_pings()
    {
        await using var ours = await OurPeer.StartAsync(p2p => p2p.AddPrivateNetwork(_key));
        var answer = await _js.CommandAsync("ping", new JsonObject { ["addr"] = ours.TcpAddress.ToString(), ["count"] = 3 });
        Assert.Equal(3, answer["rtts"]!.AsArray().Count);
    }

    [Fact]
    public async Task A_different_key_fails_both_ways()
    {
        await using var ours = await OurPeer.StartAsync(p2p => p2p.AddPrivateNetwork(SwarmKey.Generate()),
            host => host.DialTimeout = TimeSpan.FromSeconds(5));
        await Assert.ThrowsAnyAsync<Exception>(() => ours.Host.DialAsync(_js.TcpAddress, CancellationToken.None).AsTask().WaitAsync(StepTimeout));
        var answer = await _js.TryCommandAsync("dial", new JsonObject { ["addr"] = ours.TcpAddress.ToString() }, TimeSpan.FromSeconds(5));
        Assert.False(answer["ok"]!.GetValue<bool>());
        Assert.Empty(ours.Host.GetConnections());
    }

    [Fact]
    public async Task A_node_without_the_key_cannot_connect_either_way()
    {
        await using var ours = await OurPeer.StartAsync(configureHost: host => host.DialTimeout = TimeSpan.FromSeconds(5));
        await Assert.ThrowsAnyAsync<Exception>(() => ours.Host.DialAsync(_js.TcpAddress, CancellationToken.None).AsTask().WaitAsync(StepTimeout));
        var answer = await _js.TryCommandAsync("dial", new JsonObject { ["addr"] = ours.TcpAddress.ToString() }, TimeSpan.FromSeconds(5));
        Assert.False(answer["ok"]!.GetValue<bool>());
        Assert.Empty(ours.Host.GetConnections());
    }
}
