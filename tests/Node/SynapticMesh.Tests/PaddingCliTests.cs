namespace SynapticMesh.Tests;

/// <summary>
/// <c>p2p init --padding all</c>: ordinary connections (<c>p2p connect</c>) between two such nodes are padded; with
/// padding required (the default) a node without padding is refused both ways; with <c>--padding-required off</c> it is
/// reached without padding.
/// </summary>
public sealed class PaddingCliTests
{
    [Fact]
    public async Task Nodes_padding_every_connection_pad_ordinary_dials_and_refuse_or_fall_back_for_a_node_without()
    {
        using var homeA = new TempHome();
        using var homeB = new TempHome();
        using var homeLenient = new TempHome();
        using var homePlain = new TempHome();
        foreach (var (home, extra) in new[]
        {
            (homeA, new[] { "--padding", "all" }),
            (homeB, new[] { "--padding", "all" }),
            (homeLenient, new[] { "--padding", "all", "--padding-required", "off" }),
            (homePlain, Array.Empty<string>()),
        })
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0", .. extra]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        var config = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(homeLenient.Path, "config.json"))).RootElement;
        Assert.Equal("all", config.GetProperty("padding").GetString());
        Assert.False(config.GetProperty("paddingRequired").GetBoolean());

        await using var a = await NodeProcess.StartAsync(homeA);
        await using var b = await NodeProcess.StartAsync(homeB);
        await using var lenient = await NodeProcess.StartAsync(homeLenient);
        await using var plain = await NodeProcess.StartAsync(homePlain);

        // Padding on both ends: an ordinary connect is padded.
        var padded = await b.RunJsonAsync("p2p", "connect", a.TcpAddress);
        Assert.Equal(["/synaptic/padding/1.0.0"], padded.GetProperty("filters").EnumerateArray().Select(f => f.GetString()));

        // Required: a node without padding is refused when dialed and when it dials.
        var outbound = await a.RunAsync("p2p", "connect", plain.TcpAddress);
        Assert.NotEqual(0, outbound.ExitCode);
        var inbound = await plain.RunAsync("p2p", "connect", a.TcpAddress);
        Assert.NotEqual(0, inbound.ExitCode);

        // Not required: reached without padding; padded with a node that pads.
        var fallback = await lenient.RunJsonAsync("p2p", "connect", plain.TcpAddress);
        Assert.Empty(fallback.GetProperty("filters").EnumerateArray());
        var both = await lenient.RunJsonAsync("p2p", "connect", a.TcpAddress);
        Assert.Equal(["/synaptic/padding/1.0.0"], both.GetProperty("filters").EnumerateArray().Select(f => f.GetString()));
    }
}
