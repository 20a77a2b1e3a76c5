using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

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
        A = await NodeProcess.StartAsync(_homeA, null, "--metrics", "127.0.0.1:0");
        AMetrics = new Uri(A.StartLine.GetProperty("metrics").GetString()!);
    }

    /// <summary>A's Prometheus endpoint.</summary>
    public Uri AMetrics { get; private set; } = null!;

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

    /// <summary>A's traversal outcomes by method, as <c>p2p status --json</c> tells them (direct, relayed, failed).</summary>
    private async Task<Dictionary<string, (long Direct, long Relayed, long Failed)>> TraversalsOfAAsync()
    {
        var status = await nodes.A.RunJsonAsync("p2p", "status");
        return status.GetProperty("nat").GetProperty("traversals").EnumerateObject().ToDictionary(m => m.Name, m =>
            (m.Value.GetProperty("direct").GetInt64(), m.Value.GetProperty("relayed").GetInt64(), m.Value.GetProperty("failed").GetInt64()));
    }

    /// <summary><c>p2pstack_nat_traversals_total{method,path}</c> as A's Prometheus endpoint serves it (0 when absent).</summary>
    private async Task<long> ScrapedTraversalsAsync(string method, string path)
    {
        using var http = new HttpClient();
        string text = await http.GetStringAsync(nodes.AMetrics);
        long sum = 0;
        foreach (Match line in Regex.Matches(text, @"^p2pstack_nat_traversals_total\{([^}]*)\} (\S+)$", RegexOptions.Multiline))
        {
            string labels = line.Groups[1].Value;
            if (labels.Contains($"method=\"{method}\"", StringComparison.Ordinal) && labels.Contains($"path=\"{path}\"", StringComparison.Ordinal))
                sum += long.Parse(line.Groups[2].Value, CultureInfo.InvariantCulture);
        }
        return sum;
    }

    /// <summary>Runs <paramref name="traverse"/> and checks that A counted exactly one outcome: <paramref name="path"/>
    /// of <paramref name="method"/> (none at all when <paramref name="path"/> is null), in status and in the metrics.
    /// The tests of this class run one at a time, so the differences are theirs.</summary>
    private async Task<T> CountedAsync<T>(string method, string? path, Func<Task<T>> traverse)
    {
        var before = await TraversalsOfAAsync();
        long scrapedBefore = path is null ? 0 : await ScrapedTraversalsAsync(method, path);
        var result = await traverse();
        var after = await TraversalsOfAAsync();
        var expected = new Dictionary<string, (long Direct, long Relayed, long Failed)>(before);
        if (path is not null)
        {
            var (d, r, f) = expected.GetValueOrDefault(method);
            expected[method] = path switch
            {
                "direct" => (d + 1, r, f),
                "relayed" => (d, r + 1, f),
                _ => (d, r, f + 1),
            };
            Assert.Equal(scrapedBefore + 1, await ScrapedTraversalsAsync(method, path));
        }
        Assert.Equal(expected.OrderBy(e => e.Key), after.OrderBy(e => e.Key));
        return result;
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
        // B runs no AutoNAT (--nat off) and has only loopback addresses: no verdict, no public address.
        Assert.Equal("unknown", statusB.GetProperty("nat").GetProperty("reachability").GetString());
        Assert.Empty(statusB.GetProperty("nat").GetProperty("publicAddresses").EnumerateArray());

        var turn = await CountedAsync("turn", "relayed", () => nodes.A.RunJsonAsync("p2p", "nat", circuit, "--method", "turn"));
        Assert.Equal("turn", turn.GetProperty("method").GetString());
        Assert.Equal("relayed", turn.GetProperty("path").GetString());
        Assert.Equal(nodes.R.TcpAddress, turn.GetProperty("relay").GetString());
        Assert.Equal(nodes.B.PeerId, turn.GetProperty("peerId").GetString());
        Assert.Equal(0, turn.GetProperty("attempts").GetInt32());
        Assert.Equal(JsonValueKind.Null, turn.GetProperty("holePunchMs").ValueKind);
        Assert.Equal(JsonValueKind.Array, turn.GetProperty("publicAddresses").ValueKind);
        // The node's outcomes of the method since start, this one included, and their rates.
        var traversals = turn.GetProperty("traversals");
        Assert.Equal(0, traversals.GetProperty("failed").GetInt64());
        Assert.True(traversals.GetProperty("relayed").GetInt64() >= 1);
        Assert.Equal(1.0, traversals.GetProperty("successRate").GetDouble());
        Assert.Equal((double)traversals.GetProperty("direct").GetInt64() / traversals.GetProperty("total").GetInt64(),
            traversals.GetProperty("directRate").GetDouble());

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
        var auto = await CountedAsync("auto", "direct", () => nodes.A.RunJsonAsync("p2p", "nat", nodes.R.TcpAddress, "--method", "auto"));
        Assert.Equal("direct", auto.GetProperty("path").GetString());
        Assert.Equal(JsonValueKind.Null, auto.GetProperty("relay").ValueKind);
        Assert.Equal(nodes.R.PeerId, auto.GetProperty("peerId").GetString());
    }

    [Fact]
    public async Task StunWithoutAServerIsAOneLineError()
    {
        // The request cannot run here (no STUN server configured): no traversal to count.
        var stun = await CountedAsync("stun", null, () => nodes.A.RunAsync("p2p", "nat", nodes.R.TcpAddress, "--method", "stun"));
        Assert.NotEqual(0, stun.ExitCode);
        stun.AssertOneLineError("no STUN server");
        var bad = await nodes.A.RunAsync("p2p", "nat", nodes.R.TcpAddress, "--method", "ice");
        Assert.NotEqual(0, bad.ExitCode);
    }

    [Fact]
    public async Task APeerWithNoPathIsAFailedTraversal()
    {
        // A peer no one knows: no direct address, no circuit address, no relay it uses.
        string stranger = P2PStack.Identity.PeerId.FromPublicKey(P2PStack.Identity.PrivateKey.Generate(P2PStack.Identity.KeyType.Ed25519).PublicKey).ToString();
        var run = await CountedAsync("auto", "failed", () => nodes.A.RunAsync("p2p", "nat", stranger, "--method", "auto"));
        Assert.NotEqual(0, run.ExitCode);
    }
}
