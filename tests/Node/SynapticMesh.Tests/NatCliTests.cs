using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynapticMesh.Tests;

/// <summary>
/// Three nodes on 127.0.0.1: R serves as a relay (<c>--relay-service</c>), B reserves on it (<c>--relay</c>), A reaches B
/// with <c>p2p nat</c>. Loopback is private, so the configs allow private addresses in NAT traversal (what a LAN or a
/// lab sets); the proof behind real NATs is tests/Nat/P2PStack.Nat.Lab.Tests.
/// </summary>
public sealed class RelayNodes : IAsyncLifetime
{
    private readonly TempHome _homeR = new();
    private readonly TempHome _homeB = new();
    private readonly TempHome _homeA = new();

    public NodeProcess R { get; private set; } = null!;

    public NodeProcess B { get; private set; } = null!;

    public NodeProcess A { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await InitAsync(_homeR, "--relay-service", "--nat", "off");
        R = await NodeProcess.StartAsync(_homeR);
        await InitAsync(_homeB, "--relay", R.TcpAddress, "--nat", "off");
        B = await NodeProcess.StartAsync(_homeB);
        await InitAsync(_homeA);
        A = await NodeProcess.StartAsync(_homeA);
    }

    private static async Task InitAsync(TempHome home, params string[] extra)
    {
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0", .. extra]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        var config = JsonNode.Parse(File.ReadAllText(home.File("config.json")))!.AsObject();
        config["natPrivateAddresses"] = true;
        File.WriteAllText(home.File("config.json"), config.ToJsonString());
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { A, B, R })
        {
            if (node is not null) await node.DisposeAsync();
        }
        _homeA.Dispose();
        _homeB.Dispose();
        _homeR.Dispose();
    }
}

public sealed class NatCliTests(RelayNodes nodes) : IClassFixture<RelayNodes>
{
    /// <summary>B's relay address once its reservation on R is in place (B reserves at start, in the background).</summary>
    private async Task<string> RelayAddressOfBAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90); // hang guard only
        while (true)
        {
            var status = await nodes.B.RunJsonAsync("p2p", "status");
            var relay = status.GetProperty("nat").GetProperty("relayAddresses").EnumerateArray().Select(a => a.GetString()!).ToList();
            if (relay.Count > 0) return relay[0];
            Assert.True(DateTime.UtcNow < deadline, $"B holds no reservation: {status}\n{nodes.B.Stderr}");
            await Task.Delay(500);
        }
    }

    [Fact]
    public void InitWritesTheNatSettings()
    {
        var config = JsonDocument.Parse(File.ReadAllText(nodes.R.Home.File("config.json"))).RootElement;
        Assert.Equal("off", config.GetProperty("nat").GetString());
        Assert.Equal(128 * 1024, config.GetProperty("relayService").GetProperty("limitDataBytes").GetInt64());
        var b = JsonDocument.Parse(File.ReadAllText(nodes.B.Home.File("config.json"))).RootElement;
        Assert.Equal(nodes.R.TcpAddress, Assert.Single(b.GetProperty("relays").EnumerateArray()).GetString());
        var a = JsonDocument.Parse(File.ReadAllText(nodes.A.Home.File("config.json"))).RootElement;
        Assert.Equal("auto", a.GetProperty("nat").GetString());
    }

    [Fact]
    public async Task TurnReachesBThroughTheRelayAndStatusMarksTheConnectionLimited()
    {
        string circuit = await RelayAddressOfBAsync();
        Assert.StartsWith(nodes.R.TcpAddress + "/p2p-circuit", circuit);
        var statusB = await nodes.B.RunJsonAsync("p2p", "status");
        var reservation = Assert.Single(statusB.GetProperty("nat").GetProperty("reservations").EnumerateArray());
        Assert.Equal(nodes.R.PeerId, reservation.GetProperty("relay").GetString());

        var turn = await nodes.A.RunJsonAsync("p2p", "nat", circuit, "--method", "turn");
        Assert.Equal("turn", turn.GetProperty("method").GetString());
        Assert.Equal("relayed", turn.GetProperty("path").GetString());
        Assert.Equal(nodes.R.TcpAddress, turn.GetProperty("relay").GetString());
        Assert.Equal(nodes.B.PeerId, turn.GetProperty("peerId").GetString());
        Assert.Equal(0, turn.GetProperty("attempts").GetInt32());
        Assert.Equal(JsonValueKind.Null, turn.GetProperty("holePunchMs").ValueKind);
        Assert.Equal(JsonValueKind.Array, turn.GetProperty("publicAddresses").ValueKind);

        var statusA = await nodes.A.RunJsonAsync("p2p", "status");
        var peerB = statusA.GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("peerId").GetString() == nodes.B.PeerId);
        // The relayed connection is there; B may also have dialed A directly since (it learned A's addresses through
        // identify), so the peer is marked limited exactly when every connection to it is relayed.
        var remote = peerB.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()!).ToList();
        Assert.Contains(remote, a => a.Contains("/p2p-circuit", StringComparison.Ordinal));
        Assert.Equal(remote.All(a => a.Contains("/p2p-circuit", StringComparison.Ordinal)), peerB.GetProperty("limited").GetBoolean());
        Assert.Equal("auto", statusA.GetProperty("nat").GetProperty("mode").GetString());
    }

    [Fact]
    public async Task AutoUsesADirectConnectionWhenThePeerIsReachable()
    {
        var auto = await nodes.A.RunJsonAsync("p2p", "nat", nodes.R.TcpAddress, "--method", "auto");
        Assert.Equal("direct", auto.GetProperty("path").GetString());
        Assert.Equal(JsonValueKind.Null, auto.GetProperty("relay").ValueKind);
        Assert.Equal(nodes.R.PeerId, auto.GetProperty("peerId").GetString());
    }

    [Fact]
    public async Task StunWithoutAServerIsAOneLineError()
    {
        var stun = await nodes.A.RunAsync("p2p", "nat", nodes.R.TcpAddress, "--method", "stun");
        Assert.NotEqual(0, stun.ExitCode);
        stun.AssertOneLineError("no STUN server");
        var bad = await nodes.A.RunAsync("p2p", "nat", nodes.R.TcpAddress, "--method", "ice");
        Assert.NotEqual(0, bad.ExitCode);
    }
}
