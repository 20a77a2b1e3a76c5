using System.Text.Json.Nodes;
using P2PStack.Interop.Support;
using P2PStack.Nat.Testing;

namespace P2PStack.Nat.Interop.Tests;

/// <summary>Circuit relay v2 between our node and js-libp2p, on loopback (relays need no public address).</summary>
// IAsyncLifetime, not IAsyncDisposable: xUnit 2 never calls IAsyncDisposable.DisposeAsync on a test class, so what
// the test started (hosts, processes, metric listeners) would outlive it.
public sealed class RelayInteropTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);
    private readonly List<JsonLinesPeer> _peers = [];

    private static CancellationToken Ct() => new CancellationTokenSource(Timeout).Token;

    private async Task<JsonLinesPeer> Start(Task<JsonLinesPeer> starting)
    {
        var peer = await starting;
        _peers.Add(peer);
        return peer;
    }

    [Fact]
    public async Task JsNodeReservesOnOurRelayAndAnotherJsNodeReachesItThroughIt()
    {
        var relay = await Start(Peers.CSharpAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0", "--relay-service", "--allow-private"], Ct()));
        var listener = await Start(Peers.JsAsync(null, ["--listen", $"{relay.Address()}/p2p-circuit"], Ct()));
        var circuit = await listener.CommandAsync("waitAddress", new JsonObject { ["contains"] = "/p2p-circuit" });
        string address = circuit["addresses"]![0]!.GetValue<string>();
        Assert.StartsWith(relay.Address().ToString(), address);

        var dialer = await Start(Peers.JsAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0"], Ct()));
        var echo = await dialer.CommandAsync("echo", new JsonObject { ["addr"] = address, ["size"] = 20_000 });
        var connection = echo["connection"]!;
        Assert.True(connection["relayed"]!.GetValue<bool>());
        Assert.True(connection["limited"]!.GetValue<bool>());
        // Our relay sends Limit.duration in seconds, as the spec says; js reads it so (its own relay sends ms).
        Assert.InRange(connection["limits"]!["seconds"]!.GetValue<int>(), 100, 120);

        var stats = await relay.CommandAsync("relay-stats");
        Assert.Equal(1, stats["reservations"]!.GetValue<int>());
    }

    [Fact]
    public async Task WeReserveOnAJsRelayAndReadItsMillisecondDuration()
    {
        var relay = await Start(Peers.JsAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0", "--relay-service"], Ct()));
        var node = await Start(Peers.CSharpAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0"], Ct()));
        await node.CommandAsync("dial", new JsonObject { ["addr"] = relay.Address().ToString() });
        var reservation = await node.CommandAsync("reserve", new JsonObject { ["relay"] = relay.PeerId().ToString() });
        Assert.True(reservation["voucher"]!.GetValue<bool>()); // js's voucher verifies against its key and our id
        // js sends Limit.duration = 120000 (ms); read as seconds it would be 33 hours.
        Assert.Equal(120, reservation["limitSeconds"]!.GetValue<double>());
        Assert.Equal(1 << 17, reservation["limitData"]!.GetValue<long>());
        Assert.Contains(reservation["addresses"]!.AsArray(), a => a!.GetValue<string>().EndsWith("/p2p-circuit", StringComparison.Ordinal));

    }

    [Fact]
    public async Task AJsPeerReachesUsThroughAJsRelay()
    {
        var relay = await Start(Peers.JsAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0", "--relay-service"], Ct()));
        // A static relay: the reservation manager reserves on it and listens through it (our stop side accepts its circuits).
        var listener = await Start(Peers.CSharpAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0", "--relay", relay.Address().ToString()], Ct()));
        string circuit = await listener.CircuitAddressAsync(Timeout, Ct());
        Assert.StartsWith($"{relay.Address()}/p2p-circuit", circuit);

        var dialer = await Start(Peers.JsAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0"], Ct()));
        var echo = await dialer.CommandAsync("echo", new JsonObject { ["addr"] = circuit, ["size"] = 20_000 });
        Assert.Equal(20_000, echo["bytes"]!.GetValue<int>());
        Assert.True(echo["connection"]!["relayed"]!.GetValue<bool>());
        Assert.Equal(listener.PeerId().ToString(), echo["connection"]!["remotePeer"]!.GetValue<string>());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var peer in _peers) await peer.DisposeAsync();
    }
}
