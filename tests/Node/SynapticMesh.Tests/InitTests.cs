using System.Text.Json;
using P2PStack.Identity;

namespace SynapticMesh.Tests;

public sealed class InitTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task InitWritesAnEncryptedKeyAndTheConfig()
    {
        var result = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--listen", "/ip4/127.0.0.1/tcp/0",
            "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", "--max-peers", "7", "--json"], "correct horse");
        Assert.True(result.ExitCode == 0, result.Stderr);
        using var json = JsonDocument.Parse(result.Stdout);
        string peerId = json.RootElement.GetProperty("peerId").GetString()!;
        Assert.True(json.RootElement.GetProperty("encrypted").GetBoolean());

        byte[] keyFile = await File.ReadAllBytesAsync(_home.File("identity.key"));
        Assert.True(KeyFile.IsEncrypted(keyFile));
        Assert.Throws<KeyFileException>(() => KeyFile.Decode(keyFile, "wrong"));
        using var key = KeyFile.Decode(keyFile, "correct horse");
        Assert.Equal(peerId, PeerId.FromPublicKey(key.PublicKey).ToString());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, FileModes.Of(_home.File("identity.key")));

        using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(_home.File("config.json")));
        Assert.Equal(["/ip4/127.0.0.1/tcp/0"], config.RootElement.GetProperty("listen").EnumerateArray().Select(e => e.GetString()));
        Assert.Single(config.RootElement.GetProperty("bootstrap").EnumerateArray());
        Assert.Equal(7, config.RootElement.GetProperty("maxPeers").GetInt32());
    }

    [Fact]
    public async Task DefaultListenAddressesAreTcp9000AndWebSocket9001()
    {
        var result = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--no-passphrase"]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.False(KeyFile.IsEncrypted(await File.ReadAllBytesAsync(_home.File("identity.key"))));
        using var config = JsonDocument.Parse(await File.ReadAllBytesAsync(_home.File("config.json")));
        Assert.Equal(["/ip4/0.0.0.0/tcp/9000", "/ip4/0.0.0.0/tcp/9001/ws"],
            config.RootElement.GetProperty("listen").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task InitTwiceIsRefusedAndKeepsTheKey()
    {
        Assert.Equal(0, (await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--no-passphrase"])).ExitCode);
        byte[] before = await File.ReadAllBytesAsync(_home.File("identity.key"));
        var again = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--no-passphrase"]);
        again.AssertOneLineError("already initialised");
        Assert.Equal(before, await File.ReadAllBytesAsync(_home.File("identity.key")));
    }

    [Fact]
    public async Task InitWithoutAnyPassphraseSourceSaysHowToGiveOne()
    {
        var result = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path]);
        result.AssertOneLineError("SYNAPTIC_MESH_PASSPHRASE");
        Assert.False(File.Exists(_home.File("identity.key")));
    }

    [Fact]
    public async Task BadListenAddressIsOneLineUsageError()
    {
        var result = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--no-passphrase", "--listen", "/ip4/300.1.1.1/tcp/1"]);
        result.AssertOneLineError("invalid listen address");
        Assert.Equal(2, result.ExitCode);
        Assert.False(File.Exists(_home.File("identity.key")));
    }

    [Fact]
    public async Task WrongPassphraseAtStartIsOneLineError()
    {
        Assert.Equal(0, (await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--listen", "/ip4/127.0.0.1/tcp/0"], "right")).ExitCode);
        var result = await CliProcess.RunAsync(["p2p", "start", "--home", _home.Path], "wrong");
        result.AssertOneLineError("wrong passphrase");
        Assert.False(File.Exists(_home.File("api.json")));
    }

    [Fact]
    public async Task EncryptedKeyWithoutPassphraseAtStartSaysHowToGiveOne()
    {
        Assert.Equal(0, (await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--listen", "/ip4/127.0.0.1/tcp/0"], "right")).ExitCode);
        var result = await CliProcess.RunAsync(["p2p", "start", "--home", _home.Path]);
        result.AssertOneLineError("SYNAPTIC_MESH_PASSPHRASE");
    }
}
