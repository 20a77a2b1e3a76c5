using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>`p2p security`, `p2p peer` and `p2p init --security/--swarm-key` without a running node.</summary>
public sealed class SecurityCliTests
{
    private static async Task<JsonElement> Json(params string[] args)
    {
        var result = await CliProcess.RunAsync([.. args, "--json"]);
        Assert.True(result.ExitCode == 0, $"synaptic-mesh {string.Join(' ', args)} failed ({result.ExitCode}): {result.Stderr}");
        using var json = JsonDocument.Parse(result.Stdout);
        return json.RootElement.Clone();
    }

    [Fact]
    public async Task Swarm_key_init_security_status_and_the_trust_store_work_offline()
    {
        using var home = new TempHome();
        string keyFile = Path.Combine(Path.GetDirectoryName(home.Path)!, "swarm.key");
        var generated = await Json("p2p", "security", "swarm-key", "generate", "--out", keyFile);
        Assert.StartsWith("/key/swarm/psk/1.0.0/\n/base16/\n", File.ReadAllText(keyFile));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        // Never overwritten.
        (await CliProcess.RunAsync(["p2p", "security", "swarm-key", "generate", "--out", keyFile])).AssertOneLineError("exists already");

        await Json("p2p", "init", "--home", home.Path, "--no-passphrase", "--security", "strict", "--swarm-key", keyFile,
            "--listen", "/ip4/127.0.0.1/tcp/0");
        var status = await Json("p2p", "security", "status", "--home", home.Path);
        Assert.Equal("strict", status.GetProperty("level").GetString());
        Assert.Equal(generated.GetProperty("fingerprint").GetString(), status.GetProperty("privateNetwork").GetString());
        Assert.True(status.GetProperty("sealByDefault").GetBoolean());
        Assert.False(status.GetProperty("running").GetBoolean());

        const string peer = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";
        var trusted = await Json("p2p", "peer", "trust", peer, "--name", "bob", "--home", home.Path);
        Assert.Equal("manual", trusted.GetProperty("method").GetString());
        var list = await Json("p2p", "peer", "list", "--home", home.Path);
        Assert.Equal("bob", list.GetProperty("trusted")[0].GetProperty("name").GetString());
        await Json("p2p", "peer", "revoke", peer, "--reason", "lost laptop", "--home", home.Path);
        list = await Json("p2p", "peer", "list", "--home", home.Path);
        Assert.Equal(0, list.GetProperty("trusted").GetArrayLength());
        Assert.Equal("lost laptop", list.GetProperty("revoked")[0].GetProperty("reason").GetString());

        var level = await Json("p2p", "security", "init", "--level", "signed", "--home", home.Path);
        Assert.Equal("signed", level.GetProperty("level").GetString());
        Assert.Equal("signed", (await Json("p2p", "security", "status", "--home", home.Path)).GetProperty("level").GetString());
    }

    [Fact]
    public async Task Bad_levels_peer_ids_and_key_files_are_usage_errors()
    {
        using var home = new TempHome();
        var badLevel = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--security", "paranoid"]);
        Assert.Equal(2, badLevel.ExitCode);
        string notAKey = Path.Combine(Path.GetDirectoryName(home.Path)!, "not-a-key");
        File.WriteAllText(notAKey, "hello\n");
        var badKey = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--swarm-key", notAKey]);
        badKey.AssertOneLineError("swarm key");
        Assert.Equal(2, badKey.ExitCode);
        Assert.False(File.Exists(home.File("identity.key")));

        var badChannel = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--secure-channels", "noise,quic"]);
        badChannel.AssertOneLineError("secureChannels");
        Assert.Equal(2, badChannel.ExitCode);

        await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase"]);
        var badPeer = await CliProcess.RunAsync(["p2p", "peer", "trust", "not-a-peer", "--home", home.Path]);
        badPeer.AssertOneLineError("not a peer id");
        Assert.Equal(2, badPeer.ExitCode);
    }
}

/// <summary>Three running nodes: mesh management, sealed messages, revocation and the strict level through the CLI.</summary>
public sealed class TrustNodes : IAsyncLifetime
{
    private readonly TempHome _a = new(), _b = new(), _strict = new();

    public NodeProcess A { get; private set; } = null!;
    public NodeProcess B { get; private set; } = null!;
    public NodeProcess Strict { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var (home, level) in new[] { (_a, "secure"), (_b, "secure"), (_strict, "strict") })
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--security", level,
                "--listen", "/ip4/127.0.0.1/tcp/0"]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        A = await NodeProcess.StartAsync(_a);
        B = await NodeProcess.StartAsync(_b);
        Strict = await NodeProcess.StartAsync(_strict);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { A, B, Strict }) if (node is not null) await node.DisposeAsync();
        _a.Dispose();
        _b.Dispose();
        _strict.Dispose();
    }
}

public sealed class TrustNodeTests(TrustNodes nodes) : IClassFixture<TrustNodes>
{
    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(200);
        }
    }

    private static async Task<bool> Connected(NodeProcess node, string peer)
    {
        var status = await node.RunJsonAsync("p2p", "status");
        return status.GetProperty("peers").EnumerateArray().Any(p => p.GetProperty("peerId").GetString() == peer);
    }

    [Fact]
    public async Task Mesh_add_list_health_and_remove()
    {
        var added = await nodes.B.RunJsonAsync("p2p", "mesh", "add", nodes.A.TcpAddress, "--name", "alpha");
        Assert.True(added.GetProperty("online").GetBoolean());
        Assert.Equal(nodes.A.PeerId, added.GetProperty("peerId").GetString());
        (await nodes.B.RunAsync("p2p", "mesh", "add", nodes.A.TcpAddress, "--name", "alpha")).AssertOneLineError("exists already");

        var list = await nodes.B.RunJsonAsync("p2p", "mesh", "list");
        var host = Assert.Single(list.GetProperty("hosts").EnumerateArray());
        Assert.Equal("alpha", host.GetProperty("name").GetString());
        Assert.True(host.GetProperty("online").GetBoolean());

        var health = await nodes.B.RunJsonAsync("p2p", "mesh", "health", "--count", "3");
        var checkedHost = Assert.Single(health.GetProperty("hosts").EnumerateArray());
        Assert.True(checkedHost.GetProperty("samples").GetInt32() >= 3);
        double min = checkedHost.GetProperty("minRttMs").GetDouble(), mean = checkedHost.GetProperty("meanRttMs").GetDouble(),
            max = checkedHost.GetProperty("maxRttMs").GetDouble();
        Assert.True(min > 0 && min <= mean && mean <= max);
        Assert.Equal(JsonValueKind.String, checkedHost.GetProperty("lastSeen").ValueKind);

        var text = await nodes.B.RunAsync("p2p", "mesh", "health");
        Assert.Contains("alpha  online", text.Stdout);
        Assert.Contains("rtt:", text.Stdout);

        var removed = await nodes.B.RunJsonAsync("p2p", "mesh", "remove", nodes.A.PeerId);
        Assert.Equal("alpha", removed.GetProperty("name").GetString());
        Assert.Equal(0, (await nodes.B.RunJsonAsync("p2p", "mesh", "list")).GetProperty("hosts").GetArrayLength());
        (await nodes.B.RunAsync("p2p", "mesh", "remove", "alpha")).AssertOneLineError("no mesh host");
    }

    [Fact]
    public async Task Messages_are_sealed_by_default_at_secure_and_not_with_no_seal()
    {
        await nodes.A.RunJsonAsync("p2p", "connect", nodes.B.TcpAddress);
        var sealedMessage = await nodes.A.RunJsonAsync("p2p", "message", nodes.B.PeerId, "--msg-type", "thought", "--content", "hi");
        Assert.True(sealedMessage.GetProperty("sealed").GetBoolean());
        var command = await nodes.A.RunJsonAsync("p2p", "message", nodes.B.PeerId, "--msg-type", "command", "--content", "status", "--seal");
        Assert.True(command.GetProperty("sealed").GetBoolean());
        var clear = await nodes.A.RunJsonAsync("p2p", "message", nodes.B.PeerId, "--msg-type", "thought", "--content", "hi", "--no-seal");
        Assert.False(clear.TryGetProperty("sealed", out var s) && s.GetBoolean());
        (await nodes.A.RunAsync("p2p", "message", "swarm:team", "--msg-type", "thought", "--content", "x", "--seal"))
            .AssertOneLineError("cannot be sealed");
    }

    [Fact]
    public async Task Revoking_a_connected_peer_closes_the_connection_and_refuses_it()
    {
        await nodes.A.RunJsonAsync("p2p", "connect", nodes.B.TcpAddress);
        Assert.True(await Connected(nodes.A, nodes.B.PeerId));
        await nodes.A.RunJsonAsync("p2p", "peer", "revoke", nodes.B.PeerId, "--reason", "test");
        await Eventually(async () => !await Connected(nodes.A, nodes.B.PeerId), "the revoked peer's connection to close");
        (await nodes.A.RunAsync("p2p", "connect", nodes.B.TcpAddress)).AssertOneLineError("revoked");
        var status = await nodes.A.RunJsonAsync("p2p", "security", "status");
        Assert.True(status.GetProperty("refused").GetProperty("dial/revoked").GetInt64() >= 1);
        await nodes.A.RunJsonAsync("p2p", "peer", "trust", nodes.B.PeerId); // lifts the revocation for the other tests
    }

    [Fact]
    public async Task The_strict_node_admits_only_trusted_peers()
    {
        (await nodes.Strict.RunAsync("p2p", "connect", nodes.A.TcpAddress)).AssertOneLineError("not trusted");
        var inbound = await nodes.A.RunAsync("p2p", "connect", nodes.Strict.TcpAddress);
        // The strict node refuses after the handshake: A's dial fails or its connection closes at once.
        await Eventually(async () => !await Connected(nodes.Strict, nodes.A.PeerId) && !await Connected(nodes.A, nodes.Strict.PeerId),
            "no connection between the strict node and the untrusted one");
        var refused = (await nodes.Strict.RunJsonAsync("p2p", "security", "status")).GetProperty("refused");
        Assert.True(refused.GetProperty("secured/untrusted").GetInt64() >= 1, inbound.Stderr);

        await nodes.Strict.RunJsonAsync("p2p", "peer", "trust", nodes.A.PeerId, "--name", "a");
        var connected = await nodes.Strict.RunJsonAsync("p2p", "connect", nodes.A.TcpAddress);
        Assert.Equal(nodes.A.PeerId, connected.GetProperty("peerId").GetString());
    }
}

/// <summary>`p2p init --swarm-key`: nodes with the same key connect; a node without it cannot, either way.</summary>
public sealed class PrivateNetworkCliTests
{
    [Fact]
    public async Task Nodes_with_the_same_swarm_key_connect_and_an_outsider_cannot()
    {
        using var memberHome1 = new TempHome();
        using var memberHome2 = new TempHome();
        using var outsiderHome = new TempHome();
        string keyFile = Path.Combine(Path.GetDirectoryName(memberHome1.Path)!, "swarm.key");
        Assert.Equal(0, (await CliProcess.RunAsync(["p2p", "security", "swarm-key", "generate", "--out", keyFile])).ExitCode);
        foreach (var (home, key) in new[] { (memberHome1, true), (memberHome2, true), (outsiderHome, false) })
        {
            string[] args = ["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"];
            if (key) args = [.. args, "--swarm-key", keyFile];
            // The second member offers TLS only: it meets the first (Noise suites, then TLS) on /tls/1.0.0.
            if (home == memberHome2) args = [.. args, "--secure-channels", "tls"];
            var init = await CliProcess.RunAsync(args);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        await using var member1 = await NodeProcess.StartAsync(memberHome1);
        await using var member2 = await NodeProcess.StartAsync(memberHome2);
        await using var outsider = await NodeProcess.StartAsync(outsiderHome);

        var connected = await member2.RunJsonAsync("p2p", "connect", member1.TcpAddress);
        Assert.Equal(member1.PeerId, connected.GetProperty("peerId").GetString());
        Assert.Equal("/tls/1.0.0", connected.GetProperty("securityProtocol").GetString());
        Assert.Equal("/yamux/1.0.0", connected.GetProperty("muxer").GetString());
        Assert.NotEqual(0, (await outsider.RunAsync("p2p", "connect", member1.TcpAddress)).ExitCode);
        Assert.NotEqual(0, (await member1.RunAsync("p2p", "connect", outsider.TcpAddress)).ExitCode);
    }
}
