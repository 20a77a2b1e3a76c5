using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>
/// Six real nodes on 127.0.0.1 started by the CLI (three onion relays, a shadow service initialised with
/// <c>--shadow</c>, a plain client and a node without a shadow service): the service publishes its addresses'
/// descriptors with onion relays as introduction points; <c>p2p shadow</c> generates, rotates, lists, resolves (from
/// another node) and revokes them; the pool survives a restart; the client (<c>--onion</c>) pings the service at its
/// shadow address through an introduction point. One test starts a seventh node, alone with <c>--onion</c>, whose
/// resolution fails after its directory wait.
/// </summary>
public sealed class ShadowCliTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private readonly List<TempHome> _homes = [];
    private readonly List<NodeProcess> _nodes = [];
    private NodeProcess _service = null!;
    private NodeProcess _client = null!;
    private string _firstAddress = null!;
    private string _bootstrap = null!;

    public async Task InitializeAsync()
    {
        var first = await StartAsync(["--onion-relay"], bootstrap: null);
        _bootstrap = first.TcpAddress;
        for (int i = 0; i < 2; i++) await StartAsync(["--onion-relay"], _bootstrap);
        var (service, init) = await StartWithInitAsync(["--shadow", "--shadow-publication-jitter", "0", "--shadow-pool-size", "1"], _bootstrap);
        _service = service;
        _firstAddress = init.GetProperty("shadowAddress").GetString()!;
        Assert.StartsWith("shadow:", _firstAddress);
        Assert.True(init.GetProperty("config").GetProperty("onion").GetBoolean(), "--shadow implies --onion");
        _client = await StartAsync(["--onion"], _bootstrap);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
        foreach (var home in _homes) home.Dispose();
    }

    [Fact]
    public async Task Generate_rotate_list_resolve_and_revoke_shadow_addresses()
    {
        var relays = _nodes.Take(3).Select(n => n.PeerId).ToHashSet();
        // The address init created is published by itself once the service's directory knows relays.
        var first = await PublishedAsync(_service, _firstAddress);
        Assert.Equal(3, first.GetProperty("publication").GetProperty("introductionPoints").GetInt32());
        Assert.StartsWith("/shadow/", first.GetProperty("multiaddr").GetString());

        // Another node resolves it (over circuits: the resolution waits, up to shadowDirectoryWaitSeconds, until the
        // client's onion directory, filled from the DHT after start, lists relays for a circuit): the introduction
        // points are the onion relays, never the service itself.
        var resolved = await _client.RunJsonAsync("p2p", "shadow", "--operation", "resolve", "--address", _firstAddress);
        var points = resolved.GetProperty("introductionPoints").EnumerateArray().Select(p => p.GetProperty("relay").GetString()!).ToList();
        Assert.Equal(3, points.Count);
        Assert.Subset(relays, points.ToHashSet());
        Assert.DoesNotContain(_service.PeerId, points);
        // The multiaddr form resolves too.
        var byMultiaddr = await _client.RunJsonAsync("p2p", "shadow", "--operation", "resolve", "--address", first.GetProperty("multiaddr").GetString()!);
        Assert.Equal(3, byMultiaddr.GetProperty("introductionPoints").GetArrayLength());

        // generate: a new, unrelated address, published before the command returns.
        var generated = await _service.RunJsonAsync("p2p", "shadow", "--operation", "generate");
        string second = generated.GetProperty("address").GetString()!;
        Assert.NotEqual(_firstAddress, second);
        Assert.Equal("Active", generated.GetProperty("state").GetString());
        Assert.True(generated.GetProperty("publication").GetProperty("storedOn").GetInt32() > 0, generated.ToString());
        Assert.Equal(3, (await _client.RunJsonAsync("p2p", "shadow", "--operation", "resolve", "--address", second))
            .GetProperty("introductionPoints").GetArrayLength());

        // rotate: the old address retires (still reachable), a fresh one replaces it.
        var rotated = await _service.RunJsonAsync("p2p", "shadow", "--operation", "rotate", "--address", second);
        Assert.Equal("Retiring", rotated.GetProperty("old").GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.String, rotated.GetProperty("old").GetProperty("retiresAt").ValueKind);
        string third = rotated.GetProperty("new").GetProperty("address").GetString()!;
        Assert.True(rotated.GetProperty("new").GetProperty("publication").GetProperty("storedOn").GetInt32() > 0);
        await _client.RunJsonAsync("p2p", "shadow", "--operation", "resolve", "--address", third);
        await _client.RunJsonAsync("p2p", "shadow", "--operation", "resolve", "--address", second);
        var again = await _service.RunAsync("p2p", "shadow", "--operation", "rotate", "--address", second);
        again.AssertOneLineError("already rotated");

        var list = await _service.RunJsonAsync("p2p", "shadow", "--operation", "list");
        var listed = list.EnumerateArray().ToDictionary(e => e.GetProperty("address").GetString()!, e => e.GetProperty("state").GetString());
        Assert.Equal(3, listed.Count);
        Assert.Equal("Active", listed[_firstAddress]);
        Assert.Equal("Retiring", listed[second]);
        Assert.Equal("Active", listed[third]);
        var text = await _service.RunAsync("p2p", "shadow", "--operation", "list");
        Assert.Contains(third, text.Stdout);
        Assert.Contains("(retiring)", text.Stdout);

        // revoke: gone from the pool; the key file no longer holds it; its descriptor is superseded at once by a
        // retirement record, so it no longer resolves.
        var revoked = await _service.RunJsonAsync("p2p", "shadow", "--operation", "revoke", "--address", third);
        Assert.True(revoked.GetProperty("revoked").GetBoolean());
        Assert.True(revoked.GetProperty("retirementRecords").GetInt32() >= 1, revoked.ToString());
        Assert.True(revoked.GetProperty("retirementStoredOn").GetInt32() > 0, revoked.ToString());
        (await _client.RunAsync("p2p", "shadow", "--operation", "resolve", "--address", third)).AssertOneLineError("was retired by its service");
        Assert.DoesNotContain(third, (await _service.RunJsonAsync("p2p", "shadow", "--operation", "list")).EnumerateArray()
            .Select(e => e.GetProperty("address").GetString()));
        (await _service.RunAsync("p2p", "shadow", "--operation", "revoke", "--address", third)).AssertOneLineError("not in this node's pool");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, FileModes.Of(_service.Home.File("shadow-keys.json")));

        // Refusals: an unknown address does not resolve; typos, a missing or extra --address, a node without a service.
        string neverPublished = P2PStack.Privacy.ShadowAddresses.ShadowKey.Generate().Address.ToUri();
        (await _client.RunAsync("p2p", "shadow", "--operation", "resolve", "--address", neverPublished)).AssertOneLineError("no descriptor");
        string typo = _firstAddress[..^1] + (_firstAddress[^1] == 'a' ? 'b' : 'a');
        var typoResult = await _client.RunAsync("p2p", "shadow", "--operation", "resolve", "--address", typo);
        Assert.NotEqual(0, typoResult.ExitCode);
        Assert.Contains("is not a shadow address", typoResult.Stderr);
        Assert.NotEqual(0, (await _client.RunAsync("p2p", "shadow", "--operation", "resolve")).ExitCode);
        Assert.NotEqual(0, (await _client.RunAsync("p2p", "shadow", "--operation", "list", "--address", _firstAddress)).ExitCode);
        Assert.NotEqual(0, (await _client.RunAsync("p2p", "shadow", "--operation", "forge")).ExitCode);
        (await _client.RunAsync("p2p", "shadow", "--operation", "generate")).AssertOneLineError("--shadow");
        // A node that never learns a relay waits shadowDirectoryWaitSeconds, then says why it cannot resolve.
        var alone = await StartAsync(["--onion", "--shadow-directory-wait-seconds", "1"], bootstrap: null);
        (await alone.RunAsync("p2p", "shadow", "--operation", "resolve", "--address", _firstAddress))
            .AssertOneLineError("the onion directory listed too few relays for a circuit within 1 s");

        // A restart keeps the pool (the keys file) and publishes again.
        int index = _nodes.IndexOf(_service);
        await _service.DisposeAsync();
        _service = await NodeProcess.StartAsync(_service.Home);
        _nodes[index] = _service;
        var restored = (await _service.RunJsonAsync("p2p", "shadow", "--operation", "list")).EnumerateArray()
            .Select(e => e.GetProperty("address").GetString()!).ToHashSet();
        Assert.Equal(new HashSet<string> { _firstAddress, second }, restored);
        // (Its onion directory may hold fewer relays at first: the publisher completes the set as relays become known.)
        await PublishedAsync(_service, _firstAddress, points: 1);
    }

    [Fact]
    public async Task Ping_and_message_a_shadow_address_through_its_introduction_points()
    {
        var published = await PublishedAsync(_service, _firstAddress);
        string multiaddr = published.GetProperty("multiaddr").GetString()!;
        // Right away: the resolution waits for the client's onion directory to list relays for a circuit.

        var ping = await _client.RunJsonAsync("p2p", "ping", multiaddr, "--count", "3");
        Assert.Equal(3, ping.GetProperty("rttMs").GetArrayLength());
        // The client reached the address's own service identity, never the service node's.
        string serviceIdentity = ping.GetProperty("peerId").GetString()!;
        Assert.NotEqual(_service.PeerId, serviceIdentity);
        Assert.DoesNotContain(_nodes, n => n.PeerId == serviceIdentity);
        // The URI form, in text; the same identity again.
        var text = await _client.RunAsync("p2p", "ping", _firstAddress);
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains($"ping {serviceIdentity}: seq=1", text.Stdout);
        // Each connection (its handshake completed) is a use of the address.
        var entry = (await _service.RunJsonAsync("p2p", "shadow", "--operation", "list")).EnumerateArray()
            .Single(e => e.GetProperty("address").GetString() == _firstAddress);
        Assert.Equal(2, entry.GetProperty("uses").GetInt64());

        // A neural message to the address: the service's listener gets it, signed by an ephemeral identity (neither the
        // client's peer id nor the one of the ping connections), addressed to the service identity.
        var listen = System.Diagnostics.Process.Start(CliProcess.StartInfo(["p2p", "listen", "--json", "--home", _service.Home.Path], null))!;
        try
        {
            listen.StandardInput.Close();
            using (var ready = new CancellationTokenSource(Patience))
                Assert.Equal("listening for messages (Ctrl+C to stop)", await listen.StandardError.ReadLineAsync(ready.Token));
            var sent = await _client.RunJsonAsync("p2p", "message", _firstAddress, "--msg-type", "thought", "--content", "to whoever holds this address");
            Assert.Equal(serviceIdentity, sent.GetProperty("peer").GetString());
            Assert.Equal(_firstAddress, sent.GetProperty("to").GetString());
            string id = sent.GetProperty("id").GetString()!;
            using var reading = new CancellationTokenSource(Patience);
            JsonElement message;
            do
            {
                string line = await listen.StandardOutput.ReadLineAsync(reading.Token) ?? throw new InvalidOperationException("listen ended");
                message = JsonDocument.Parse(line).RootElement.Clone();
            }
            while (message.GetProperty("id").GetString() != id);
            Assert.Equal("to whoever holds this address", message.GetProperty("content").GetString());
            string from = message.GetProperty("from").GetString()!;
            Assert.NotEqual(_client.PeerId, from);
            Assert.DoesNotContain(_nodes, n => n.PeerId == from);
            CliProcess.SendSigterm(listen);
            await listen.WaitForExitAsync().WaitAsync(Patience);
        }
        finally
        {
            if (!listen.HasExited) listen.Kill(entireProcessTree: true);
            listen.Dispose();
        }

        // Refusals: an address nobody published; a node without onion circuits; what a shadow message cannot be.
        string neverPublished = P2PStack.Privacy.ShadowAddresses.ShadowKey.Generate().Address.ToUri();
        (await _client.RunAsync("p2p", "ping", neverPublished)).AssertOneLineError("no descriptor");
        (await _client.RunAsync("p2p", "message", neverPublished, "--msg-type", "thought", "--content", "x")).AssertOneLineError("no descriptor");
        (await _nodes[0].RunAsync("p2p", "ping", multiaddr)).AssertOneLineError("--onion");
        var command = await _client.RunAsync("p2p", "message", _firstAddress, "--msg-type", "command", "--content", "echo hi");
        Assert.Equal(2, command.ExitCode);
        command.AssertOneLineError("no commands");
        (await _client.RunAsync("p2p", "message", _firstAddress, "--msg-type", "thought", "--content", "x", "--seal")).AssertOneLineError("not sealed");
    }

    private static async Task<JsonElement> PublishedAsync(NodeProcess node, string address, int points = 3)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var list = await node.RunJsonAsync("p2p", "shadow", "--operation", "list");
            var entry = list.EnumerateArray().FirstOrDefault(e => e.GetProperty("address").GetString() == address);
            // Not yet published: the entry has no "publication" (null fields are left out of the JSON); wait, do not throw.
            if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("publication", out var p) && p.ValueKind == JsonValueKind.Object
                && p.GetProperty("storedOn").GetInt32() > 0 && p.GetProperty("introductionPoints").GetInt32() >= points)
                return entry;
            Assert.True(DateTime.UtcNow < deadline, $"{address} was never published with {points} introduction points: {list}");
            await Task.Delay(500);
        }
    }

    private async Task<NodeProcess> StartAsync(string[] flags, string? bootstrap) => (await StartWithInitAsync(flags, bootstrap)).Node;

    private async Task<(NodeProcess Node, JsonElement Init)> StartWithInitAsync(string[] flags, string? bootstrap)
    {
        var home = new TempHome();
        _homes.Add(home);
        string[] args = ["p2p", "init", "--home", home.Path, "--no-passphrase", "--security", "development", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--onion-path-diversity", "off", "--json", .. flags];
        if (bootstrap is not null) args = [.. args, "--bootstrap", bootstrap];
        var init = await CliProcess.RunAsync(args);
        Assert.True(init.ExitCode == 0, init.Stderr);
        using var json = JsonDocument.Parse(init.Stdout);
        var node = await NodeProcess.StartAsync(home);
        _nodes.Add(node);
        return (node, json.RootElement.Clone());
    }
}
