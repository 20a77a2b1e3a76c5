namespace SynapticMesh.Tests;

public sealed class ErrorTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    [Theory]
    [InlineData("connect", "/ip4/1.2.3/tcp/4001")]
    [InlineData("connect", "not-a-multiaddr")]
    [InlineData("ping", "/ip4/127.0.0.1/tcp/99999")]
    [InlineData("ping", "neither-address-nor-peer")]
    public async Task BadTargetIsOneLineUsageErrorEvenWithoutANode(string command, string target)
    {
        var result = await CliProcess.RunAsync(["p2p", command, target, "--home", _home.Path]);
        Assert.Equal(2, result.ExitCode);
        Assert.Single(result.StderrLines);
        Assert.StartsWith("error: ", result.StderrLines[0]);
        Assert.Empty(result.Stdout);
    }

    [Theory]
    [InlineData("status")]
    [InlineData("connect", "/ip4/127.0.0.1/tcp/4001")]
    [InlineData("ping", "/ip4/127.0.0.1/tcp/4001")]
    [InlineData("perf", "/ip4/127.0.0.1/tcp/4001", "--upload", "1", "--download", "1")]
    public async Task NodeNotRunningIsOneLineError(params string[] args)
    {
        var result = await CliProcess.RunAsync(["p2p", .. args, "--home", _home.Path, "--json"]);
        result.AssertOneLineError("no node is running");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("not_running", result.JsonError().GetProperty("code").GetString());
        Assert.Contains($"start it with `synaptic-mesh p2p start --home {_home.Path}`", result.JsonError().GetProperty("error").GetString());
        Assert.Empty(result.Stdout);

        var text = await CliProcess.RunAsync(["p2p", .. args, "--home", _home.Path]);
        text.AssertOneLineError($"no node is running on {_home.Path}; start it with `synaptic-mesh p2p start --home {_home.Path}`");
    }

    [Fact]
    public async Task StaleEndpointFileIsTreatedAsNotRunning()
    {
        Directory.CreateDirectory(_home.Path);
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await File.WriteAllTextAsync(_home.File("api.json"), $$"""{"port":{{port}},"token":"x","pid":1,"peerId":"p"}""");
        var result = await CliProcess.RunAsync(["p2p", "status", "--home", _home.Path]);
        result.AssertOneLineError("not running");
    }

    [Theory]
    [InlineData("error: unknown option '--bogus' for 'synaptic-mesh p2p status'", "synaptic-mesh p2p status [options]", "p2p", "status", "--bogus")]
    [InlineData("error: unknown command 'statsu' for 'synaptic-mesh p2p'; did you mean 'status'?", "synaptic-mesh p2p [command] [options]", "p2p", "statsu")]
    [InlineData("error: unknown command 'foo' for 'synaptic-mesh p2p'", "synaptic-mesh p2p [command] [options]", "p2p", "foo")]
    [InlineData("error: Required argument missing for command: 'ping'", "synaptic-mesh p2p ping <target> [options]", "p2p", "ping")]
    public async Task UnknownCommandOrOptionShowsTheErrorAndTheNearestUsage(string error, string usage, params string[] args)
    {
        var result = await CliProcess.RunAsync([.. args, "--home", _home.Path]);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(error, result.StderrLines[0]);
        Assert.Contains("Usage:", result.Stderr);
        Assert.Contains(usage, result.Stderr);
        Assert.DoesNotContain("Required command was not provided", result.Stderr);
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task BareCommandPrintsUsage()
    {
        var result = await CliProcess.RunAsync([]);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Usage:", result.Stdout);
        Assert.Contains("p2p", result.Stdout);
        Assert.Empty(result.Stderr);
    }

    [Fact]
    public async Task HomeComesFromTheEnvironmentWhenNotGiven()
    {
        var info = CliProcess.StartInfo(["p2p", "init", "--no-passphrase", "--json"], null);
        info.Environment["SYNAPTIC_MESH_HOME"] = _home.Path;
        using var process = System.Diagnostics.Process.Start(info)!;
        process.StandardInput.Close();
        string stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        Assert.Contains(_home.Path, stdout);
        Assert.True(File.Exists(_home.File("identity.key")));
    }
}
