using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.Privacy.Padding;
using SynapticMesh.Home;
using SynapticMesh.Node;

namespace SynapticMesh.Tests;

/// <summary>
/// Padding cell sizes, cover traffic and delays (and the shadow directory wait) in the node's config: <c>p2p init --padding-*</c> writes them, bad values
/// are one-line usage errors, and the node composes the padding module with them.
/// </summary>
public sealed class PaddingConfigTests
{
    [Fact]
    public async Task Init_writes_the_padding_settings_and_refuses_bad_ones()
    {
        using var home = new TempHome();
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--padding", "all", "--padding-cell-sizes", "512, 4096", "--padding-cover", "poisson", "--padding-cover-rate", "5",
            "--padding-cover-budget", "8192", "--padding-cover-max-lag-ms", "50", "--padding-jitter-ms", "20", "--padding-batch-ms", "3", "--shadow", "--shadow-require-padding",
            "--padding-circuit-links", "off", "--shadow-directory-wait-seconds", "5", "--shadow-publication-jitter", "7"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        Assert.Contains("padding cells: 512, 4096 bytes", init.Stdout);
        Assert.Contains("padding circuit links: off", init.Stdout);
        var config = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(home.File("config.json"))).RootElement;
        Assert.Equal([512, 4096], config.GetProperty("paddingCellSizes").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("poisson", config.GetProperty("paddingCover").GetString());
        Assert.Equal(5, config.GetProperty("paddingCoverRate").GetDouble());
        Assert.Equal(8192, config.GetProperty("paddingCoverBudget").GetInt32());
        Assert.Equal(50, config.GetProperty("paddingCoverMaxLagMs").GetInt32());
        Assert.Equal(20, config.GetProperty("paddingJitterMs").GetInt32());
        Assert.Equal(5, config.GetProperty("shadowDirectoryWaitSeconds").GetInt32());
        Assert.Equal(7, config.GetProperty("shadowPublicationJitterSeconds").GetInt32());
        Assert.Equal(3, config.GetProperty("paddingBatchMs").GetInt32());
        Assert.True(config.GetProperty("shadowRequirePadding").GetBoolean());
        Assert.False(config.GetProperty("paddingCircuitLinks").GetBoolean());

        foreach (var (flags, message) in new (string[], string)[]
        {
            (["--padding-cell-sizes", "4096,512"], "strictly increasing"),
            (["--padding-cell-sizes", "32"], "outside 64..16384"),
            (["--padding-cell-sizes", "1k"], "not a size in bytes"),
            (["--padding-cover-rate", "0"], "paddingCoverRate"),
            (["--padding-cover-budget", "0"], "paddingCoverBudget"),
            (["--padding-cover-max-lag-ms", "10001"], "paddingCoverMaxLagMs"),
            (["--padding-jitter-ms", "-1"], "paddingJitterMs"),
            (["--shadow-directory-wait-seconds", "-1"], "shadowDirectoryWaitSeconds"),
            (["--shadow-publication-jitter", "1201"], "--shadow-publication-jitter: 0..1200"),
            (["--padding-batch-ms", "10001"], "paddingBatchMs"),
        })
        {
            using var other = new TempHome();
            var refused = await CliProcess.RunAsync(["p2p", "init", "--home", other.Path, "--no-passphrase", .. flags]);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains(message, refused.Stderr);
            Assert.False(File.Exists(other.File("config.json")), "a refused init writes nothing");
        }
        using var cover = new TempHome();
        Assert.Equal(2, (await CliProcess.RunAsync(["p2p", "init", "--home", cover.Path, "--no-passphrase", "--padding-cover", "bursty"])).ExitCode);
        using var links = new TempHome();
        Assert.Equal(2, (await CliProcess.RunAsync(["p2p", "init", "--home", links.Path, "--no-passphrase", "--padding-circuit-links", "maybe"])).ExitCode);
    }

    [Fact]
    public void The_node_composes_the_padding_module_with_the_configured_settings()
    {
        using var home = new TempHome();
        Directory.CreateDirectory(home.Path);
        var configured = new NodeConfig
        {
            Listen = ["/ip4/127.0.0.1/tcp/0"],
            Onion = true,
            PaddingCellSizes = [256, 2048],
            PaddingCover = "constant",
            PaddingCoverRate = 7.5,
            PaddingCoverBudget = 4096,
            PaddingCoverMaxLagMs = 75,
            PaddingJitterMs = 15,
            PaddingBatchMs = 2,
            PaddingCircuitLinks = false,
        }.Validate();
        var options = Compose(configured, home);
        Assert.Equal([256, 2048], options.CellSizes);
        Assert.Equal(CoverTraffic.Constant, options.Cover);
        Assert.Equal(7.5, options.CoverRate);
        Assert.Equal(4096, options.CoverBudgetBytesPerSecond);
        Assert.Equal(TimeSpan.FromMilliseconds(75), options.CoverMaxLag);
        Assert.Equal(TimeSpan.FromMilliseconds(15), options.MaxJitter);
        Assert.Equal(TimeSpan.FromMilliseconds(2), options.BatchDelay);
        Assert.False(options.OnCircuitLinks);

        // Without the keys: the module's defaults.
        var defaults = Compose(new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true }.Validate(), home);
        Assert.Equal([1024, 16384], defaults.CellSizes);
        Assert.Equal(CoverTraffic.None, defaults.Cover);
        Assert.Equal(TimeSpan.Zero, defaults.MaxJitter);
        Assert.Equal(PaddingOptions.DefaultCoverMaxLag, defaults.CoverMaxLag);
        Assert.True(defaults.OnCircuitLinks); // circuit links are padded by default
    }

    [Fact]
    public void A_shadow_service_requires_padding_when_configured()
    {
        using var home = new TempHome();
        Directory.CreateDirectory(home.Path);
        foreach (bool required in new[] { true, false })
        {
            var config = new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true, Shadow = true, ShadowRequirePadding = required }.Validate();
            Assert.Equal(required, Compose<P2PStack.Privacy.ShadowAddresses.Service.ShadowPublisherOptions>(config, home).RequirePadding);
        }
    }

    [Fact]
    public void Shadow_operations_wait_for_the_onion_directory_as_configured()
    {
        using var home = new TempHome();
        Directory.CreateDirectory(home.Path);
        foreach (var (seconds, expected) in new (int?, TimeSpan)[] { (7, TimeSpan.FromSeconds(7)), (0, TimeSpan.Zero), (null, TimeSpan.FromSeconds(30)) })
        {
            var config = seconds is { } s
                ? new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true, ShadowDirectoryWaitSeconds = s }.Validate()
                : new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true }.Validate();
            Assert.Equal(expected, Compose<P2PStack.Privacy.ShadowAddresses.ShadowOptions>(config, home).DirectoryWaitTimeout);
        }
    }

    [Fact]
    public void The_shadow_publication_jitter_reaches_the_publisher_and_bad_values_are_refused()
    {
        using var home = new TempHome();
        Directory.CreateDirectory(home.Path);
        foreach (var (seconds, expected) in new (int?, TimeSpan)[] { (7, TimeSpan.FromSeconds(7)), (0, TimeSpan.Zero), (null, TimeSpan.FromMinutes(5)) })
        {
            var config = new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true, Shadow = true, ShadowPublicationJitterSeconds = seconds }.Validate();
            Assert.Equal(expected, Compose<P2PStack.Privacy.ShadowAddresses.Service.ShadowPublisherOptions>(config, home).EffectiveJitter);
        }
        var error = Assert.ThrowsAny<Exception>(() => new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true, Shadow = true, ShadowPublicationJitterSeconds = 1201 }.Validate());
        Assert.Contains("shadowPublicationJitterSeconds must be 0..1200", error.Message);
    }

    [Fact]
    public async Task The_shadow_pool_size_is_written_by_init_reaches_the_pool_and_bad_values_are_refused()
    {
        using var home = new TempHome();
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--shadow", "--shadow-pool-size", "4"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        var config = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(home.File("config.json"))).RootElement;
        Assert.Equal(4, config.GetProperty("shadowPoolSize").GetInt32());
        foreach (var size in new[] { "0", "101" })
        {
            using var other = new TempHome();
            var refused = await CliProcess.RunAsync(["p2p", "init", "--home", other.Path, "--no-passphrase", "--shadow", "--shadow-pool-size", size]);
            Assert.Equal(2, refused.ExitCode);
            Assert.Contains("--shadow-pool-size: 1..100", refused.Stderr);
        }

        using var composed = new TempHome();
        Directory.CreateDirectory(composed.Path);
        foreach (var (size, expected) in new (int?, int)[] { (4, 4), (null, NodeConfig.DefaultShadowPoolSize) })
        {
            var node = size is { } n
                ? new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true, Shadow = true, ShadowPoolSize = n }.Validate()
                : new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true, Shadow = true }.Validate();
            Assert.Equal(expected, Compose<P2PStack.Privacy.ShadowAddresses.ShadowPoolOptions>(node, composed).PoolSize);
        }
        var error = Assert.ThrowsAny<Exception>(() => new NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], Onion = true, Shadow = true, ShadowPoolSize = 0 }.Validate());
        Assert.Contains("shadowPoolSize must be 1..100", error.Message);
    }

    private static PaddingOptions Compose(NodeConfig config, TempHome home) => Compose<PaddingOptions>(config, home);

    /// <summary>The options of type <typeparamref name="T"/> as a node composed from <paramref name="config"/> has them.</summary>
    internal static T Compose<T>(NodeConfig config, TempHome home) where T : class
    {
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSynapticMeshNode(key, config, new NodeHome(home.Path));
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<T>>().Value;
    }
}
