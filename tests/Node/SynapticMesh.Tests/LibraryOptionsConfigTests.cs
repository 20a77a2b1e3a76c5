using P2PStack.Nat.Relay;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Padding;
using SynapticMesh.Home;

namespace SynapticMesh.Tests;

/// <summary>
/// Library options the node exposes as config keys and <c>p2p init</c> flags: the relay client's limit grace
/// (<c>relayLimitGraceSeconds</c>), the padding hello timeout (<c>paddingHelloTimeoutMs</c>) and the onion directory's
/// sparse refresh interval (<c>onionDirectorySparseRefreshSeconds</c>). Init writes them, refuses values out of range,
/// and the composed node's options carry them (the library's defaults without them).
/// </summary>
public sealed class LibraryOptionsConfigTests
{
    [Fact]
    public async Task Init_writes_the_keys_and_refuses_values_out_of_range()
    {
        using var home = new TempHome();
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--relay-limit-grace-seconds", "0", "--padding-hello-timeout-ms", "2500", "--onion-directory-sparse-refresh-seconds", "3"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        var config = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(home.File("config.json"))).RootElement;
        Assert.Equal(0, config.GetProperty("relayLimitGraceSeconds").GetInt32());
        Assert.Equal(2500, config.GetProperty("paddingHelloTimeoutMs").GetInt32());
        Assert.Equal(3, config.GetProperty("onionDirectorySparseRefreshSeconds").GetInt32());

        foreach (var (flags, message) in new (string[], string)[]
        {
            (["--relay-limit-grace-seconds", "-1"], "relayLimitGraceSeconds must be 0..300"),
            (["--relay-limit-grace-seconds", "301"], "relayLimitGraceSeconds must be 0..300"),
            (["--padding-hello-timeout-ms", "99"], "paddingHelloTimeoutMs must be 100..60000"),
            (["--padding-hello-timeout-ms", "60001"], "paddingHelloTimeoutMs must be 100..60000"),
            (["--onion-directory-sparse-refresh-seconds", "0"], "onionDirectorySparseRefreshSeconds must be 1..3600"),
            (["--onion-directory-sparse-refresh-seconds", "3601"], "onionDirectorySparseRefreshSeconds must be 1..3600"),
        })
        {
            using var other = new TempHome();
            var refused = await CliProcess.RunAsync(["p2p", "init", "--home", other.Path, "--no-passphrase", .. flags]);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains(message, refused.Stderr);
            Assert.False(File.Exists(other.File("config.json")), "a refused init writes nothing");
        }
    }

    [Fact]
    public void The_node_composes_the_modules_with_the_configured_values_and_the_library_defaults_without_them()
    {
        using var home = new TempHome();
        Directory.CreateDirectory(home.Path);
        var configured = new NodeConfig
        {
            Listen = ["/ip4/127.0.0.1/tcp/0"],
            Onion = true,
            RelayLimitGraceSeconds = 42,
            PaddingHelloTimeoutMs = 1500,
            OnionDirectorySparseRefreshSeconds = 4,
        }.Validate();
        Assert.Equal(TimeSpan.FromSeconds(42), PaddingConfigTests.Compose<RelayClientOptions>(configured, home).LimitGrace);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), PaddingConfigTests.Compose<PaddingOptions>(configured, home).HelloTimeout);
        Assert.Equal(TimeSpan.FromSeconds(4), PaddingConfigTests.Compose<OnionOptions>(configured, home).Directory.SparseRefreshInterval);

        var defaults = new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true }.Validate();
        Assert.Equal(new RelayClientOptions().LimitGrace, PaddingConfigTests.Compose<RelayClientOptions>(defaults, home).LimitGrace);
        Assert.Equal(new PaddingOptions().HelloTimeout, PaddingConfigTests.Compose<PaddingOptions>(defaults, home).HelloTimeout);
        Assert.Equal(new OnionDirectoryOptions().SparseRefreshInterval, PaddingConfigTests.Compose<OnionOptions>(defaults, home).Directory.SparseRefreshInterval);
    }

    [Fact]
    public void A_config_file_with_a_value_out_of_range_is_refused_at_start_with_the_key_named()
    {
        foreach (var (config, key) in new (NodeConfig, string)[]
        {
            (new NodeConfig { RelayLimitGraceSeconds = 301 }, "relayLimitGraceSeconds"),
            (new NodeConfig { PaddingHelloTimeoutMs = 0 }, "paddingHelloTimeoutMs"),
            (new NodeConfig { OnionDirectorySparseRefreshSeconds = 0 }, "onionDirectorySparseRefreshSeconds"),
        })
        {
            var error = Assert.Throws<SynapticMesh.Cli.CliException>(() => config.Validate());
            Assert.Equal(SynapticMesh.Cli.ExitCodes.Usage, error.ExitCode);
            Assert.Contains(key, error.Message);
        }
    }
}
