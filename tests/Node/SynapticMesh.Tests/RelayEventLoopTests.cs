using System.Text.Json.Nodes;

namespace SynapticMesh.Tests;

/// <summary>
/// <c>p2p start</c> on an onion relay asks the runtime for inline socket completions before the node's first socket
/// (<c>--onion-relay-event-loop</c>, config <c>onionRelayEventLoop</c>), in a process started without
/// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS</c>: read back from what the runtime does, its socket event threads
/// (one by default with inline completions, config <c>onionRelayEventThreads</c>; one per core with 0; one without),
/// not from the node's word alone.
/// </summary>
public sealed class RelayEventLoopTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task The_flag_gives_a_relay_inline_socket_completions_without_the_variable()
    {
        await InitRelayAsync();
        await using var node = await NodeProcess.StartAsync(_home, null, "--onion-relay-event-loop", "on");
        Assert.True(node.StartLine.GetProperty("onionRelayEventLoop").GetBoolean());
        Assert.Equal(1, SocketEventThreads(node)); // onionRelayEventThreads' default
    }

    [Fact]
    public async Task Event_threads_0_leaves_the_runtime_one_per_core()
    {
        await InitRelayAsync();
        var config = JsonNode.Parse(await File.ReadAllTextAsync(_home.File("config.json")))!.AsObject();
        config["onionRelayEventThreads"] = 0;
        await File.WriteAllTextAsync(_home.File("config.json"), config.ToJsonString());
        await using var node = await NodeProcess.StartAsync(_home, null, "--onion-relay-event-loop", "on");
        Assert.True(node.StartLine.GetProperty("onionRelayEventLoop").GetBoolean());
        Assert.Equal(Environment.ProcessorCount, SocketEventThreads(node));
        Assert.DoesNotContain("unknown key", node.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_config_key_asks_for_it_and_the_flag_overrides_the_key()
    {
        await InitRelayAsync();
        var config = JsonNode.Parse(await File.ReadAllTextAsync(_home.File("config.json")))!.AsObject();
        config["onionRelayEventLoop"] = true;
        await File.WriteAllTextAsync(_home.File("config.json"), config.ToJsonString());

        await using (var node = await NodeProcess.StartAsync(_home))
        {
            Assert.True(node.StartLine.GetProperty("onionRelayEventLoop").GetBoolean());
            Assert.Equal(1, SocketEventThreads(node));
            Assert.DoesNotContain("unknown key", node.Stderr, StringComparison.Ordinal);
        }
        await using (var node = await NodeProcess.StartAsync(_home, null, "--onion-relay-event-loop", "off"))
        {
            Assert.False(node.StartLine.GetProperty("onionRelayEventLoop").GetBoolean());
            Assert.Equal(1, SocketEventThreads(node)); // the runtime's single event thread: completions on the thread pool
        }
    }

    [Fact]
    public async Task The_flag_on_a_node_that_is_no_relay_is_said_to_be_ignored()
    {
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--no-passphrase", "--security", "development",
            "--listen", "/ip4/127.0.0.1/tcp/0"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        await using var node = await NodeProcess.StartAsync(_home, null, "--onion-relay-event-loop", "on");
        // stderr is read apart from the start line on stdout: wait for the warning, written before the start line.
        for (var deadline = DateTime.UtcNow.AddSeconds(20); !node.Stderr.Contains("--onion-relay-event-loop ignored", StringComparison.Ordinal)
            && DateTime.UtcNow < deadline;)
            await Task.Delay(50);
        Assert.Contains("--onion-relay-event-loop ignored", node.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, SocketEventThreads(node));
    }

    private async Task InitRelayAsync()
    {
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--no-passphrase", "--security", "development",
            "--listen", "/ip4/127.0.0.1/tcp/0", "--onion-relay", "--onion-path-diversity", "off"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
    }

    // Threads of the node's process named as the runtime names its socket event threads (Linux).
    private static int SocketEventThreads(NodeProcess node) =>
        Directory.EnumerateDirectories($"/proc/{node.Process.Id}/task").Count(task =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == ".NET Sockets";
            }
            catch (IOException)
            {
                return false; // a thread that ended meanwhile
            }
        });
}
