using System.Diagnostics;
using System.Text.Json;
using P2PStack.Discovery.Signaling.Tests;
using SynapticMesh.Tests.Registry;
using Xunit.Abstractions;

namespace SynapticMesh.Tests;

/// <summary>
/// The proof with real processes: three nodes started with <c>p2p start</c> (TCP and <c>/ws</c> on loopback)
/// and the js-libp2p page in Debian's headless chromium, connected to one node's <c>/ws</c> address, join one swarm with
/// <c>p2p swarm join --announce-interval</c>. Everyone sees everyone (the page through its signaling host), thoughts go
/// both ways (<c>p2p listen --swarm</c>, <c>p2p message swarm:NAME</c>), direct messages both ways through the page's
/// signaling host (<c>p2p message PAGE-PEER-ID</c>, <c>p2p listen</c>), a <c>p2p swarm leave</c> and a SIGTERM of a node
/// are seen as departures, a <c>kill -9</c> as an expiry (by the page and by <c>p2p swarm peers --watch --json</c>), and
/// a reloaded page rejoins as the same peer. Times are printed, not asserted; waits are hang guards.
/// </summary>
public sealed class BrowserSwarmCliTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int IntervalSeconds = 2;
    private readonly TempHome[] _homes = [new(), new(), new()];
    private readonly List<NodeProcess> _nodes = [];

    public async Task InitializeAsync()
    {
        foreach (var home in _homes)
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase",
                "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/tcp/0/ws"]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        _nodes.AddRange(await Task.WhenAll(_homes.Select(h => NodeProcess.StartAsync(h))));
    }

    [DebianFact("chromium", "/usr/bin/chromium")]
    public async Task Three_cli_nodes_and_a_page_see_each_other_leave_shut_down_crash_and_a_reload()
    {
        var (a, b, c) = (_nodes[0], _nodes[1], _nodes[2]);
        string swarm = $"page-{Guid.NewGuid():N}"[..20];
        await b.RunJsonAsync("p2p", "connect", a.TcpAddress);
        await c.RunJsonAsync("p2p", "connect", a.TcpAddress);
        await c.RunJsonAsync("p2p", "connect", b.TcpAddress);
        foreach (var node in _nodes)
            await node.RunJsonAsync("p2p", "swarm", "join", swarm, "--announce-interval", $"{IntervalSeconds}");
        await using var watch = await CliStream.StartAsync(a, "p2p", "swarm", "peers", swarm, "--watch", "--json");
        await using var listen = await CliStream.StartAsync(b, "p2p", "listen", "--swarm", swarm, "--json");
        await using var listenDirect = await CliStream.StartAsync(b, "p2p", "listen", "--json");

        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(5)); // hang guard
        string wsAddress = a.Addresses.Single(x => x.Contains("/ws/", StringComparison.Ordinal));
        await using var page = await SwarmPage.OpenAsync(wsAddress, swarm, TimeSpan.FromSeconds(IntervalSeconds), guard.Token);
        var joined = Stopwatch.StartNew();

        // Everyone sees everyone: the page the three nodes, each node the page (relayed by A) and the two other nodes.
        int elapsed = await page.MembersAsync([a.PeerId, b.PeerId, c.PeerId], guard.Token);
        output.WriteLine($"page saw the three nodes {elapsed} ms after joining (announce interval {IntervalSeconds} s)");
        foreach (var node in _nodes)
        {
            var peers = await Eventually.HoldsAsync(() => node.RunJsonAsync("p2p", "swarm", "peers", swarm),
                p => PeerIds(p).Contains(page.PeerId), "the node sees the page");
            Assert.Equal(new[] { a.PeerId, b.PeerId, c.PeerId, page.PeerId }.Except([node.PeerId]).Order(), PeerIds(peers).Order());
            var pageEntry = peers.GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("peerId").GetString() == page.PeerId);
            Assert.Equal([a.PeerId], pageEntry.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));
        }
        output.WriteLine($"every node listed the page {joined.ElapsedMilliseconds} ms after it joined");
        var available = await NextAsync(watch, e => e.GetProperty("peerId").GetString() == page.PeerId);
        Assert.Equal("available", available.GetProperty("event").GetString());
        Assert.Equal([a.PeerId], available.GetProperty("hosts").EnumerateArray().Select(h => h.GetString()));

        // Thoughts both ways: the page's reaches B's `p2p listen --swarm`, C's `p2p message swarm:NAME` reaches the page.
        await page.SendAsync("hello from the browser", guard.Token);
        var thought = await NextAsync(listen, m => m.GetProperty("content").GetString() == "hello from the browser");
        Assert.Equal(page.PeerId, thought.GetProperty("from").GetString());
        await c.RunJsonAsync("p2p", "message", $"swarm:{swarm}", "--msg-type", "thought", "--content", "hello from the CLI");
        Assert.Equal(c.PeerId, await page.ReceivedAsync("hello from the CLI", guard.Token));

        // Direct messages through the signaling host: C (not connected to the page) sends to the page's peer id and A,
        // the host the page's presence names, forwards; the page's direct thought to B goes to A, which forwards it.
        var direct = await c.RunJsonAsync("p2p", "message", page.PeerId, "--msg-type", "thought", "--content", "direct from the CLI");
        Assert.Equal(page.PeerId, direct.GetProperty("peer").GetString());
        Assert.Equal(c.PeerId, await page.DirectReceivedAsync("direct from the CLI", guard.Token));
        await page.SendDirectAsync(b.PeerId, "direct from the browser", guard.Token);
        var forwarded = await NextAsync(listenDirect, m => m.GetProperty("content").GetString() == "direct from the browser");
        Assert.Equal(page.PeerId, forwarded.GetProperty("from").GetString());
        Assert.Equal(b.PeerId, forwarded.GetProperty("to").GetString());

        // `p2p swarm leave`: a departure, seen by the page and by A's watch without waiting for an expiry.
        var gone = page.GoneAsync(c.PeerId, guard.Token);
        var leftAt = Stopwatch.StartNew();
        Assert.Equal(0, (await c.RunAsync("p2p", "swarm", "leave", swarm)).ExitCode);
        Assert.Equal("left", await gone);
        output.WriteLine($"swarm leave seen by the page {leftAt.ElapsedMilliseconds} ms after the command returned");
        Assert.Equal("left", (await NextLeftAsync(watch, c.PeerId)).GetProperty("reason").GetString());

        // Rejoin, then a clean shutdown (SIGTERM of `p2p start`): a departure as well.
        await c.RunJsonAsync("p2p", "swarm", "join", swarm, "--announce-interval", $"{IntervalSeconds}");
        await page.MembersAsync([a.PeerId, b.PeerId, c.PeerId], guard.Token);
        gone = page.GoneAsync(c.PeerId, guard.Token);
        var stoppedAt = Stopwatch.StartNew();
        CliProcess.SendSigterm(c.Process);
        Assert.Equal("left", await gone);
        output.WriteLine($"SIGTERM of a node seen by the page as a departure {stoppedAt.ElapsedMilliseconds} ms later");
        await c.Process.WaitForExitAsync(guard.Token);
        Assert.Equal(0, c.Process.ExitCode);
        Assert.Equal("left", (await NextLeftAsync(watch, c.PeerId)).GetProperty("reason").GetString());

        // kill -9: nothing is announced; the page and A drop B at the until of its last announcement (3 intervals).
        gone = page.GoneAsync(b.PeerId, guard.Token);
        var killedAt = Stopwatch.StartNew();
        b.Process.Kill();
        Assert.Equal("expired", await gone);
        output.WriteLine($"killed node dropped by the page {killedAt.ElapsedMilliseconds} ms after kill -9 (until = 3 x {IntervalSeconds} s)");
        Assert.Equal("expired", (await NextLeftAsync(watch, b.PeerId)).GetProperty("reason").GetString());

        // A reload: the page rejoins as the same peer; A lists it with a new membership.
        var before = Member(await a.RunJsonAsync("p2p", "swarm", "peers", swarm), page.PeerId).GetProperty("since").GetDateTimeOffset();
        Assert.Equal(page.PeerId, await page.ReloadAsync(guard.Token));
        await page.MembersAsync([a.PeerId], guard.Token);
        await Eventually.HoldsAsync(() => a.RunJsonAsync("p2p", "swarm", "peers", swarm),
            p => PeerIds(p).Contains(page.PeerId) && Member(p, page.PeerId).GetProperty("since").GetDateTimeOffset() > before,
            "A lists the reloaded page's new membership");
        await page.ScreenshotAsync("swarm-cli-page.png", guard.Token);
        var (errors, consoleErrors) = await page.QuitAsync(guard.Token);
        Assert.Empty(errors);
        Assert.Empty(consoleErrors);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
        foreach (var home in _homes) home.Dispose();
    }

    /// <summary>The next line of a streaming command that matches (others, such as announce-backs, are skipped).</summary>
    private static async Task<JsonElement> NextAsync(CliStream stream, Func<JsonElement, bool> match)
    {
        JsonElement line;
        do line = await stream.ReadJsonAsync();
        while (!match(line));
        return line;
    }

    private static Task<JsonElement> NextLeftAsync(CliStream watch, string peer) =>
        NextAsync(watch, e => e.GetProperty("event").GetString() == "left" && e.GetProperty("peerId").GetString() == peer);

    private static string[] PeerIds(JsonElement response) =>
        [.. response.GetProperty("peers").EnumerateArray().Select(p => p.GetProperty("peerId").GetString()!)];

    private static JsonElement Member(JsonElement response, string peer) =>
        response.GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("peerId").GetString() == peer);
}
