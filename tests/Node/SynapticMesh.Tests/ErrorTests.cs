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
        Assert.Empty(result.Stdout);
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

    [Fact]
    public async Task UnknownOptionIsOneLineUsageError()
    {
        var result = await CliProcess.RunAsync(["p2p", "status", "--bogus", "--home", _home.Path]);
        Assert.Equal(2, result.ExitCode);
        Assert.Single(result.StderrLines);
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
