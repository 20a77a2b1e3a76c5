using System.Text.Json;
using P2PStack.Identity;
using P2PStack.Registry;

namespace SynapticMesh.Tests.Registry;

/// <summary>A registry process whose first sovereign is the operator home's node key, for the CLI tests.</summary>
public sealed class CliRegistry : IAsyncLifetime
{
    public TempHome Operator { get; } = new();

    public TempHome Other { get; } = new();

    private readonly TempHome _registryHome = new();

    public string OperatorId { get; private set; } = null!;

    public string OtherId { get; private set; } = null!;

    public RegistryProcess Registry { get; private set; } = null!;

    public string Url => Registry.Url.ToString();

    public async Task InitializeAsync()
    {
        OperatorId = await InitAsync(Operator);
        OtherId = await InitAsync(Other);
        Registry = await RegistryProcess.StartAsync(_registryHome, "--sovereign", OperatorId);
    }

    private static async Task<string> InitAsync(TempHome home)
    {
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--json"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        using var json = JsonDocument.Parse(init.Stdout);
        return json.RootElement.GetProperty("peerId").GetString()!;
    }

    /// <summary>A node (its own key, in this process) that registered and is pending.</summary>
    public async Task<PrivateKey> PendingNodeAsync()
    {
        var key = PrivateKey.Generate(KeyType.Ed25519);
        using var client = new RegistryClient(key, new RegistryClientOptions { BaseAddress = Registry.Url });
        var answer = await client.RegisterAsync(new RegisterRequest { Name = "cli-test\u202e", Addresses = ["/ip4/127.0.0.1/tcp/4001"] }, default);
        Assert.Equal(NodeStatus.Pending, answer.Status);
        return key;
    }

    public async Task DisposeAsync()
    {
        if (Registry is not null) await Registry.DisposeAsync();
        Operator.Dispose();
        Other.Dispose();
        _registryHome.Dispose();
    }
}

public sealed class RegistryCliTests(CliRegistry registry) : IClassFixture<CliRegistry>
{
    private static string Id(PrivateKey key) => PeerId.FromPublicKey(key.PublicKey).ToString();

    private Task<CliResult> Run(TempHome home, params string[] args) => CliProcess.RunAsync([.. args, "--home", home.Path]);

    [Fact]
    public async Task An_operator_approves_denies_and_lists_nodes_with_its_sovereign_key()
    {
        using var node = await registry.PendingNodeAsync();
        var pending = await Run(registry.Operator, "registry", "nodes", "--registry", registry.Url, "--status", "pending", "--json");
        Assert.True(pending.ExitCode == 0, pending.Stderr);
        using (var json = JsonDocument.Parse(pending.Stdout))
            Assert.Contains(json.RootElement.GetProperty("nodes").EnumerateArray(), n => n.GetProperty("id").GetString() == Id(node));

        var approve = await Run(registry.Operator, "registry", "approve", Id(node), "--registry", registry.Url, "--reason", "known", "--json");
        Assert.True(approve.ExitCode == 0, approve.Stderr);
        using (var json = JsonDocument.Parse(approve.Stdout)) Assert.Equal("active", json.RootElement.GetProperty("status").GetString());

        var text = await Run(registry.Operator, "registry", "nodes", "--registry", registry.Url);
        Assert.Equal(0, text.ExitCode);
        var lines = text.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("NODE", lines[0]);
        var row = Assert.Single(lines, l => l.StartsWith(Id(node), StringComparison.Ordinal));
        Assert.Contains("active", row);
        Assert.False(text.Stdout.Contains('\u202e', StringComparison.Ordinal), "a bidi override reached the terminal");

        var deny = await Run(registry.Operator, "registry", "deny", Id(node), "--registry", registry.Url);
        Assert.True(deny.ExitCode == 0, deny.Stderr);
        Assert.Contains("denied", deny.Stdout);
    }

    [Fact]
    public async Task A_non_sovereign_cannot_approve_until_a_sovereign_adds_it()
    {
        using var node = await registry.PendingNodeAsync();
        using var lateNode = await registry.PendingNodeAsync();
        var refused = await Run(registry.Other, "registry", "approve", Id(node), "--registry", registry.Url);
        refused.AssertOneLineError("not a sovereign");
        Assert.Equal(1, refused.ExitCode);

        var selfAdd = await Run(registry.Other, "registry", "sovereign", "add", registry.OtherId, "--registry", registry.Url);
        selfAdd.AssertOneLineError("only an existing sovereign");

        var add = await Run(registry.Operator, "registry", "sovereign", "add", registry.OtherId, "--registry", registry.Url, "--label", "second", "--json");
        Assert.True(add.ExitCode == 0, add.Stderr);
        using (var json = JsonDocument.Parse(add.Stdout)) Assert.Equal(registry.OperatorId, json.RootElement.GetProperty("addedBy").GetString());

        var approve = await Run(registry.Other, "registry", "approve", Id(lateNode), "--registry", registry.Url);
        Assert.True(approve.ExitCode == 0, approve.Stderr);
        Assert.Contains("active", approve.Stdout);
    }

    [Theory]
    [InlineData("registry", "approve", "not-a-peer-id", "--registry", "http://127.0.0.1:1")]
    [InlineData("registry", "nodes", "--registry", "ftp://127.0.0.1:1")]
    [InlineData("registry", "nodes", "--registry", "http://127.0.0.1:1", "--status", "sleeping")]
    [InlineData("registry", "sovereign", "add", "garbage!", "--registry", "http://127.0.0.1:1")]
    [InlineData("registry", "start", "--sovereign", "garbage!")]
    [InlineData("registry", "start", "--bind", "not-an-ip")]
    [InlineData("p2p", "start", "--registry", "not a url")]
    public async Task Bad_command_lines_are_usage_errors(params string[] args)
    {
        var result = await Run(registry.Other, args);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: ", result.StderrLines[0]);
    }

    [Fact]
    public async Task An_unreachable_registry_is_one_line()
    {
        var result = await Run(registry.Other, "registry", "nodes", "--registry", "http://127.0.0.1:1");
        result.AssertOneLineError("cannot reach the registry");
        Assert.Equal(1, result.ExitCode);
    }

    [Fact]
    public async Task A_node_starts_when_its_registry_is_down_and_says_so()
    {
        using var home = new TempHome();
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        await using var node = await NodeProcess.StartAsync(home, null, "--registry", "http://127.0.0.1:1", "--registry-heartbeat", "1");
        var registryLine = node.StartLine.GetProperty("registry");
        Assert.False(registryLine.TryGetProperty("status", out _));
        Assert.False(string.IsNullOrEmpty(registryLine.GetProperty("error").GetString()));
        var status = await node.RunJsonAsync("p2p", "status"); // the node itself runs
        Assert.Equal(node.PeerId, status.GetProperty("peerId").GetString());
    }
}
