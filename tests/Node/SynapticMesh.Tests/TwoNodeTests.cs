using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>Two running nodes on 127.0.0.1, shared by the tests of this class; both killed at the end.</summary>
public sealed class TwoNodes : IAsyncLifetime
{
    private readonly TempHome _homeA = new();
    private readonly TempHome _homeB = new();

    public NodeProcess A { get; private set; } = null!;

    public NodeProcess B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var home in new[] { _homeA, _homeB })
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase",
                "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/tcp/0/ws"]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        A = await NodeProcess.StartAsync(_homeA);
        B = await NodeProcess.StartAsync(_homeB);
    }

    public async Task DisposeAsync()
    {
        if (A is not null) await A.DisposeAsync();
        if (B is not null) await B.DisposeAsync();
        _homeA.Dispose();
        _homeB.Dispose();
    }
}

public sealed class TwoNodeTests(TwoNodes nodes) : IClassFixture<TwoNodes>
{
    [Fact]
    public async Task ConnectThenStatusShowsThePeerOnBothSides()
    {
        var connect = await nodes.B.RunJsonAsync("p2p", "connect", nodes.A.TcpAddress);
        Assert.Equal(nodes.A.PeerId, connect.GetProperty("peerId").GetString());
        Assert.Equal("/yamux/1.0.0", connect.GetProperty("muxer").GetString());
        Assert.StartsWith("/noise", connect.GetProperty("securityProtocol").GetString());

        var statusB = await nodes.B.RunJsonAsync("p2p", "status");
        Assert.Equal(nodes.B.PeerId, statusB.GetProperty("peerId").GetString());
        Assert.All(statusB.GetProperty("addresses").EnumerateArray(), a => Assert.EndsWith($"/p2p/{nodes.B.PeerId}", a.GetString()));
        var peerA = statusB.GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("peerId").GetString() == nodes.A.PeerId);
        Assert.NotEmpty(peerA.GetProperty("addresses").EnumerateArray());
        Assert.Equal(JsonValueKind.Array, peerA.GetProperty("protocols").ValueKind);
        Assert.True(peerA.GetProperty("latencyMs").GetDouble() > 0);
        // Latency is what the words say: the latest sample, min/mean/max over a window with its sample count, the EWMA.
        var latency = peerA.GetProperty("latency");
        Assert.Equal(peerA.GetProperty("latencyMs").GetDouble(), latency.GetProperty("currentMs").GetDouble());
        Assert.True(latency.GetProperty("samples").GetInt32() >= 1);
        Assert.InRange(latency.GetProperty("meanMs").GetDouble(), latency.GetProperty("minMs").GetDouble(), latency.GetProperty("maxMs").GetDouble());
        Assert.True(latency.GetProperty("windowSeconds").GetDouble() > 0);
        Assert.True(latency.GetProperty("ewmaMs").GetDouble() > 0);
        Assert.True(latency.GetProperty("totalSamples").GetInt64() >= latency.GetProperty("samples").GetInt32());
        var text = await nodes.B.RunAsync("p2p", "status");
        Assert.Matches(@"latency: +[0-9.]+ ms \(min [0-9.]+, mean [0-9.]+, max [0-9.]+ over [0-9]+ samples? in 5 min; EWMA [0-9.]+ ms of [0-9]+\)", text.Stdout);
        Assert.Equal("/yamux/1.0.0", peerA.GetProperty("muxer").GetString());

        var statusA = await nodes.A.RunJsonAsync("p2p", "status", "--detailed");
        var peerB = statusA.GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("peerId").GetString() == nodes.B.PeerId);
        Assert.True(peerB.TryGetProperty("latencyMs", out _));
        Assert.Equal("inbound", peerB.GetProperty("direction").GetString());
        Assert.NotEmpty(peerB.GetProperty("connections").EnumerateArray());
    }

    [Fact]
    public async Task NewConnectionsToAConnectedPeerDoNotPingItAgain()
    {
        await nodes.B.RunJsonAsync("p2p", "connect", nodes.A.TcpAddress); // stays open
        // A pings a new peer once, in the background: wait for that sample.
        long before = 0;
        for (int i = 0; i < 200 && before == 0; i++)
        {
            before = await TotalLatencySamplesAsync(nodes.A, nodes.B.PeerId);
            if (before == 0) await Task.Delay(50);
        }
        Assert.True(before > 0, "A never measured B's latency");

        // Five more connections, each dialed, pinged once by the dialer and closed: B is no new peer to A.
        var setup = await nodes.B.RunJsonAsync("p2p", "connect", nodes.A.TcpAddress, "--setup-samples", "5");
        Assert.Equal(5, setup.GetProperty("setupMs").GetArrayLength());
        Assert.Equal(before, await TotalLatencySamplesAsync(nodes.A, nodes.B.PeerId));
    }

    private static async Task<long> TotalLatencySamplesAsync(NodeProcess node, string peer)
    {
        var status = await node.RunJsonAsync("p2p", "status");
        var entry = status.GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("peerId").GetString() == peer);
        return entry.TryGetProperty("latency", out var latency) && latency.ValueKind == JsonValueKind.Object
            ? latency.GetProperty("totalSamples").GetInt64()
            : 0;
    }

    [Fact]
    public async Task StatusResourcesShowsEveryScopeWithUsageAndLimits()
    {
        await nodes.B.RunJsonAsync("p2p", "connect", nodes.A.TcpAddress);
        var status = await nodes.B.RunJsonAsync("p2p", "status", "--resources");
        var scopes = status.GetProperty("resources").EnumerateArray().ToList();
        var system = scopes.Single(s => s.GetProperty("kind").GetString() == "system");
        Assert.True(system.GetProperty("usage").GetProperty("connectionsOutbound").GetInt32() >= 1);
        // Limits scale with the machine's memory: present and positive for the system scope.
        Assert.True(system.GetProperty("limit").GetProperty("connectionsInbound").GetInt32() >= 64);
        Assert.True(system.GetProperty("limit").GetProperty("memory").GetInt64() >= 128L << 20);
        Assert.Equal(0, system.GetProperty("refusals").GetInt64());
        Assert.Contains(scopes, s => s.GetProperty("kind").GetString() == "transient");
        var peer = scopes.Single(s => s.GetProperty("name").GetString() == $"peer {nodes.A.PeerId}");
        Assert.True(peer.GetProperty("usage").GetProperty("connectionsOutbound").GetInt32() >= 1);
        Assert.Equal(8, peer.GetProperty("limit").GetProperty("connections").GetInt32());
        // The modules' own memory: gossipsub's and the neural mesh's queues, the SQLite peer store's peers and the SQLite
        // DHT stores' records and announcements.
        foreach (var service in new[] { "gossipsub", "neural", "peerstore", "kademlia" })
        {
            var scope = scopes.Single(s => s.GetProperty("name").GetString() == $"service {service}");
            Assert.Equal("service", scope.GetProperty("kind").GetString());
            Assert.True(scope.GetProperty("limit").GetProperty("memory").GetInt64() >= 64L << 20);
            Assert.True(scope.GetProperty("usage").GetProperty("memory").GetInt64() >= 0);
        }
        // B's peer store holds A (and what it learned since): its entries are reserved.
        Assert.True(scopes.Single(s => s.GetProperty("name").GetString() == "service peerstore")
            .GetProperty("usage").GetProperty("memory").GetInt64() > 0);
        // Protocols: identify ran on the connection; its scope has a stream limit.
        var identify = scopes.Single(s => s.GetProperty("name").GetString() == "protocol /ipfs/id/1.0.0");
        Assert.Equal("protocol", identify.GetProperty("kind").GetString());
        Assert.True(identify.GetProperty("limit").GetProperty("streamsInbound").GetInt32() > 0);
        // Connections and streams: a total each (how many, usage summed, each one's limit), then the largest few.
        var connections = scopes.Single(s => s.GetProperty("kind").GetString() == "connection" && s.GetProperty("name").GetString() == "connections");
        Assert.True(connections.GetProperty("scopes").GetInt32() >= 1);
        Assert.True(connections.GetProperty("usage").GetProperty("connectionsOutbound").GetInt32() >= 1);
        Assert.Equal(512, connections.GetProperty("limit").GetProperty("streams").GetInt32());
        Assert.True(connections.GetProperty("limit").GetProperty("memory").GetInt64() > 0);
        var connection = scopes.First(s => s.GetProperty("kind").GetString() == "connection" && s.GetProperty("name").GetString() != "connections");
        Assert.Matches(@"^connection [0-9]+ (inbound|outbound) ", connection.GetProperty("name").GetString());
        Assert.Equal(512, connection.GetProperty("limit").GetProperty("streams").GetInt32());
        var streams = scopes.Single(s => s.GetProperty("kind").GetString() == "stream" && s.GetProperty("name").GetString() == "streams");
        Assert.True(streams.GetProperty("scopes").GetInt32() >= 0);
        Assert.True(streams.GetProperty("limit").GetProperty("memory").GetInt64() > 0);
        Assert.True(scopes.Count(s => s.GetProperty("kind").GetString() is "connection" or "stream") <= 2 + 2 * 5); // bounded
        var one = await nodes.B.RunJsonAsync("p2p", "status", "--resources", "--top", "0");
        Assert.DoesNotContain(one.GetProperty("resources").EnumerateArray(),
            s => s.GetProperty("kind").GetString() is "connection" or "stream" && s.GetProperty("name").GetString() is not ("connections" or "streams"));

        // Without --resources the scopes are left out; the text view is a table.
        Assert.False((await nodes.B.RunJsonAsync("p2p", "status")).TryGetProperty("resources", out _));
        var text = await nodes.B.RunAsync("p2p", "status", "--resources");
        Assert.Contains("resources (used/limit, - = no limit):", text.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"\n  system +[0-9]+/[0-9]+ +[0-9]+/[0-9]+ +[0-9]+/[0-9]+ +[0-9]+/[0-9]+ +[0-9.]+ [KMG]?i?B/[0-9.]+ [KMGT]iB +0", text.Stdout);
        Assert.Contains($"peer {nodes.A.PeerId}", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("service gossipsub", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("service neural", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("service peerstore", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("service kademlia", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("protocol /ipfs/id/1.0.0", text.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"\n  connections: [0-9]+ live, limits each +[0-9]+/[0-9-]+ ", text.Stdout);
        Assert.Matches(@"\n  streams: [0-9]+ live, limits each +[0-9]+/[0-9-]+ ", text.Stdout);
        Assert.Matches(@"\n  connection [0-9]+ (inbound|outbound) ", text.Stdout);
    }

    [Fact]
    public async Task PingByAddressAndByPeerId()
    {
        var byAddress = await nodes.B.RunJsonAsync("p2p", "ping", nodes.A.TcpAddress, "--count", "3");
        Assert.Equal(nodes.A.PeerId, byAddress.GetProperty("peerId").GetString());
        var rtts = byAddress.GetProperty("rttMs").EnumerateArray().Select(e => e.GetDouble()).ToList();
        Assert.Equal(3, rtts.Count);
        Assert.All(rtts, rtt => Assert.InRange(rtt, 0.0001, 10_000));
        Assert.Equal(rtts.Min(), byAddress.GetProperty("minMs").GetDouble());
        Assert.Equal(rtts.Average(), byAddress.GetProperty("avgMs").GetDouble(), 6);
        Assert.Equal(rtts.Max(), byAddress.GetProperty("maxMs").GetDouble());

        // The address is in B's peer store now, so the bare peer id is enough.
        var byPeerId = await nodes.B.RunJsonAsync("p2p", "ping", nodes.A.PeerId);
        Assert.Single(byPeerId.GetProperty("rttMs").EnumerateArray());
    }

    [Fact]
    public async Task QuantumOpensTheRequestedLevelAndReportsTheHandshake()
    {
        var level5 = await nodes.B.RunJsonAsync("p2p", "quantum", nodes.A.TcpAddress, "--level", "5");
        Assert.Equal(nodes.A.PeerId, level5.GetProperty("peerId").GetString());
        Assert.Equal("/noise-mlkem1024-hfs/0.1.0", level5.GetProperty("suite").GetString());
        Assert.Equal(5, level5.GetProperty("level").GetInt32());
        Assert.True(level5.GetProperty("handshakeMs").GetDouble() > 0);

        // The level-5 connection exists now and is reused; a level the CLI does not know is a usage error.
        var again = await nodes.B.RunJsonAsync("p2p", "quantum", nodes.A.PeerId, "--level", "5");
        Assert.True(again.GetProperty("reused").GetBoolean());
        var level1 = await nodes.B.RunJsonAsync("p2p", "quantum", nodes.A.PeerId, "--level", "1");
        Assert.Equal("/noise-mlkem512-hfs/0.1.0", level1.GetProperty("suite").GetString());
        var bad = await nodes.B.RunAsync("p2p", "quantum", nodes.A.TcpAddress, "--level", "2");
        Assert.NotEqual(0, bad.ExitCode);
    }

    [Fact]
    public async Task PingOverWebSocket()
    {
        string ws = nodes.A.Addresses.Single(a => a.Contains("/ws/", StringComparison.Ordinal));
        var result = await nodes.B.RunJsonAsync("p2p", "ping", ws, "--count", "2");
        Assert.Equal(2, result.GetProperty("rttMs").GetArrayLength());
    }

    [Fact]
    public async Task PerfMovesTheAskedBytesBothWays()
    {
        var perf = await nodes.B.RunJsonAsync("p2p", "perf", nodes.A.TcpAddress, "--upload", "1048576", "--download", "3145728");
        Assert.Equal(1048576UL, perf.GetProperty("uploadBytes").GetUInt64());
        Assert.Equal(3145728UL, perf.GetProperty("downloadBytes").GetUInt64());
        Assert.True(perf.GetProperty("seconds").GetDouble() > 0);
        Assert.True(perf.GetProperty("uploadGbps").GetDouble() > 0);
        Assert.True(perf.GetProperty("downloadGbps").GetDouble() > 0);
    }

    [Fact]
    public async Task ConnectTimesNewConnectionsWithSetupSamples()
    {
        var connect = await nodes.B.RunJsonAsync("p2p", "connect", nodes.A.TcpAddress, "--setup-samples", "3");
        Assert.Equal(nodes.A.PeerId, connect.GetProperty("peerId").GetString());
        var dial = connect.GetProperty("dialMs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var setup = connect.GetProperty("setupMs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(3, dial.Length);
        Assert.Equal(3, setup.Length);
        for (int i = 0; i < 3; i++) Assert.True(setup[i] >= dial[i] && dial[i] > 0);
        // Without the option nothing is timed; an out-of-range count is a usage error.
        var plain = await nodes.B.RunJsonAsync("p2p", "connect", nodes.A.TcpAddress);
        Assert.False(plain.TryGetProperty("setupMs", out var none) && none.ValueKind != System.Text.Json.JsonValueKind.Null);
        var bad = await nodes.B.RunAsync("p2p", "connect", nodes.A.TcpAddress, "--setup-samples", "-1");
        Assert.NotEqual(0, bad.ExitCode);
    }

    [Fact]
    public async Task TextOutputIsForPeople()
    {
        var result = await nodes.B.RunAsync("p2p", "ping", nodes.A.TcpAddress, "--count", "2");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("seq=2", result.Stdout);
        Assert.Contains(nodes.A.PeerId, result.Stdout);
    }

    [Fact]
    public async Task UnreachablePeerIsOneLineError()
    {
        // A port nobody listens on: bind one, then close it.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var nobody = P2PStack.Identity.PeerId.FromPublicKey(P2PStack.Identity.PrivateKey.Generate().PublicKey);
        var result = await nodes.B.RunAsync("p2p", "connect", $"/ip4/127.0.0.1/tcp/{port}/p2p/{nobody}");
        result.AssertOneLineError($"{port}");
        Assert.Equal(1, result.ExitCode);
    }

    [Fact]
    public async Task WrongPeerIdAtAnAddressIsRefused()
    {
        var result = await nodes.B.RunAsync("p2p", "connect", $"{nodes.A.TcpAddress.Split("/p2p/")[0]}/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
        Assert.Equal(1, result.ExitCode);
        Assert.Single(result.StderrLines);
    }

    [Fact]
    public async Task BadCountIsAUsageError()
    {
        var result = await nodes.B.RunAsync("p2p", "ping", nodes.A.TcpAddress, "--count", "0");
        result.AssertOneLineError("--count");
        Assert.Equal(2, result.ExitCode);
    }
}
