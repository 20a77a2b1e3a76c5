using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace SynapticMesh.Tests;

public sealed class StartTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    private async Task InitAsync(string? passphrase = "pass")
    {
        var result = await CliProcess.RunAsync(
            ["p2p", "init", "--home", _home.Path, "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/tcp/0/ws", "--json"], passphrase);
        Assert.True(result.ExitCode == 0, result.Stderr);
    }

    [Fact]
    public async Task StartPrintsPeerIdAndAddressesAndASecondStartIsRefused()
    {
        await InitAsync();
        using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(_home.File("config.json")));
        await using var node = await NodeProcess.StartAsync(_home, "pass");
        Assert.StartsWith("12D3KooW", node.PeerId);
        Assert.Equal(2, node.Addresses.Count);
        Assert.All(node.Addresses, a => Assert.EndsWith($"/p2p/{node.PeerId}", a));
        Assert.Contains(node.Addresses, a => a.StartsWith("/ip4/127.0.0.1/tcp/", StringComparison.Ordinal) && !a.Contains("/ws/"));
        Assert.Contains(node.Addresses, a => a.Contains("/ws/p2p/", StringComparison.Ordinal));
        Assert.DoesNotContain(node.Addresses, a => a.Contains("/tcp/0/", StringComparison.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, FileModes.Of(_home.File("api.json")));

        var second = await CliProcess.RunAsync(["p2p", "start", "--home", _home.Path], "pass");
        second.AssertOneLineError("already running");
        Assert.False(node.Process.HasExited);
    }

    [Fact]
    public async Task StartOnAFreshHomeWarnsThatTheKeyIsUnencryptedAndInitEncryptsIt()
    {
        // No identity yet: start creates one with the defaults. Port 0 here only because tests never use fixed ports.
        Directory.CreateDirectory(_home.Path);
        await File.WriteAllTextAsync(_home.File("config.json"), """{"listen":["/ip4/127.0.0.1/tcp/0"],"bootstrap":[],"maxPeers":8,"maxpeer":3}""");
        string peerId;
        await using (var node = await NodeProcess.StartAsync(_home, null, "--no-passphrase"))
        {
            peerId = node.PeerId;
            Assert.True(File.Exists(_home.File("identity.key")));
            string stderr = await WaitForStderrAsync(node, "NOT encrypted");
            Assert.Contains("no identity in", stderr);
            // With --json the warning is one JSON line; it says how to encrypt the key, for this home.
            string warning = stderr.Split('\n').Single(l => l.Contains("NOT encrypted", StringComparison.Ordinal));
            using var json = JsonDocument.Parse(warning);
            Assert.Contains($"`synaptic-mesh p2p init --home {_home.Path}`", json.RootElement.GetProperty("warning").GetString());
            // The hand-written config is left as it is, and its typo named.
            Assert.Contains("maxpeer", await WaitForStderrAsync(node, "maxpeer"));
            Assert.Contains("\"maxpeer\":3", await File.ReadAllTextAsync(_home.File("config.json")));
        }

        var encrypt = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--json"], "secret");
        Assert.True(encrypt.ExitCode == 0, encrypt.Stderr);
        using (var result = JsonDocument.Parse(encrypt.Stdout))
        {
            Assert.Equal(peerId, result.RootElement.GetProperty("peerId").GetString());
            Assert.True(result.RootElement.GetProperty("encrypted").GetBoolean());
        }
        (await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path], "secret")).AssertOneLineError("already initialised");
        await using var again = await NodeProcess.StartAsync(_home, "secret");
        Assert.Equal(peerId, again.PeerId);
    }

    [Fact]
    public async Task UnknownConfigKeysAreNamedInAWarning()
    {
        await InitAsync();
        string config = await File.ReadAllTextAsync(_home.File("config.json"));
        await File.WriteAllTextAsync(_home.File("config.json"), config.TrimEnd().TrimEnd('}')
            + ",\"maxPeer\": 8, \"mdns\": {\"servic\": \"_p2p-x._udp.local\"}}");
        await using var node = await NodeProcess.StartAsync(_home, "pass");
        string stderr = await WaitForStderrAsync(node, "maxPeer");
        using var json = JsonDocument.Parse(stderr.Split('\n').Single(l => l.Contains("maxPeer", StringComparison.Ordinal)));
        string warning = json.RootElement.GetProperty("warning").GetString()!;
        Assert.Contains("unknown keys 'maxPeer', 'mdns.servic' ignored", warning);
        Assert.Contains("maxPeers", warning); // the known keys, to spot the typo
    }

    [Fact]
    public async Task StartOnAFreshHomeWithoutAPassphraseOrATerminalRefusesToWriteAnUnencryptedKeyQuietly()
    {
        Directory.CreateDirectory(_home.Path);
        await File.WriteAllTextAsync(_home.File("config.json"), """{"listen":["/ip4/127.0.0.1/tcp/0"],"bootstrap":[],"maxPeers":8}""");
        var result = await CliProcess.RunAsync(["p2p", "start", "--home", _home.Path]);
        result.AssertOneLineError("--no-passphrase");
        Assert.Equal(2, result.ExitCode);
        Assert.False(File.Exists(_home.File("identity.key")));

        // With a passphrase in the environment the new key is encrypted.
        await using var node = await NodeProcess.StartAsync(_home, "pass");
        Assert.Contains("key encrypted", await WaitForStderrAsync(node, "initialised"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ControlApiRequiresTheBearerToken()
    {
        await InitAsync();
        await using var node = await NodeProcess.StartAsync(_home, "pass");
        using var api = JsonDocument.Parse(await File.ReadAllBytesAsync(_home.File("api.json")));
        int port = api.RootElement.GetProperty("port").GetInt32();
        string token = api.RootElement.GetProperty("token").GetString()!;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("v1/status")).StatusCode);
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "v1/status"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token[..^1] + (token[^1] == 'A' ? 'B' : 'A'));
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        }
        using var right = new HttpRequestMessage(HttpMethod.Get, "v1/status");
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await http.SendAsync(right);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(node.PeerId, status.RootElement.GetProperty("peerId").GetString());
    }

    [Fact]
    public async Task SigtermStopsTheNodeAndRemovesTheEndpointFile()
    {
        await InitAsync();
        await using var node = await NodeProcess.StartAsync(_home, "pass");
        Assert.True(File.Exists(_home.File("api.json")));
        CliProcess.SendSigterm(node.Process);
        await node.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(File.Exists(_home.File("api.json")));
        var status = await CliProcess.RunAsync(["p2p", "status", "--home", _home.Path]);
        status.AssertOneLineError("no node is running");
        // The lock went with the process: the home can be started again.
        await using var again = await NodeProcess.StartAsync(_home, "pass");
        Assert.Equal(node.PeerId, again.PeerId);
    }

    /// <summary>The node's stderr once it contains <paramref name="fragment"/>, or whatever came within the patience.</summary>
    private static async Task<string> WaitForStderrAsync(NodeProcess node, string fragment)
    {
        var deadline = DateTime.UtcNow + NodeProcess.StartTimeout;
        while (!node.Stderr.Contains(fragment, StringComparison.OrdinalIgnoreCase) && DateTime.UtcNow < deadline) await Task.Delay(50);
        return node.Stderr;
    }
}
