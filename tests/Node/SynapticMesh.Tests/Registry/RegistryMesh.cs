using System.Net.Http.Json;
using P2PStack.Registry;

namespace SynapticMesh.Tests.Registry;

/// <summary>
/// A registry process and three node processes on 127.0.0.1 that registered with it (signed), were approved through
/// <c>registry approve</c> by the operator's sovereign key, found each other through the registry and report their
/// links; a node is marked offline 6 s after its last heartbeat (nodes beat every second).
/// </summary>
public sealed class RegistryMesh : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private readonly List<TempHome> _homes = [];

    private RegistryMesh()
    {
    }

    public TempHome Operator { get; private set; } = null!;

    public string OperatorId { get; private set; } = null!;

    public RegistryProcess Registry { get; private set; } = null!;

    public List<NodeProcess> Nodes { get; } = [];

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public static async Task<RegistryMesh> StartAsync()
    {
        var mesh = new RegistryMesh();
        try
        {
            await mesh.InitialiseAsync();
            return mesh;
        }
        catch
        {
            await mesh.DisposeAsync();
            throw;
        }
    }

    private async Task InitialiseAsync()
    {
        Operator = Home();
        OperatorId = await InitAsync(Operator);
        var registryHome = Home();
        Registry = await RegistryProcess.StartAsync(registryHome, "--sovereign", OperatorId, "--offline-after", "6", "--sweep-interval", "0.5");
        var homes = new[] { Home(), Home(), Home() };
        await Task.WhenAll(homes.Select(InitAsync));
        var started = await Task.WhenAll(homes.Select((home, i) => NodeProcess.StartAsync(home, null,
            "--metrics", "127.0.0.1:0", "--registry", Registry.Url.ToString(), "--registry-heartbeat", "1", "--registry-name", $"node-{i + 1}")));
        Nodes.AddRange(started);
        foreach (var node in Nodes)
        {
            Assert.Equal("pending", node.StartLine.GetProperty("registry").GetProperty("status").GetString());
            var approve = await CliProcess.RunAsync(["registry", "approve", node.PeerId, "--registry", Registry.Url.ToString(), "--home", Operator.Path, "--json"]);
            Assert.True(approve.ExitCode == 0, approve.Stderr);
        }
        // Approved nodes read the registry, dial each other and report their links with RTT.
        await Eventually.WaitAsync(async () =>
        {
            var topology = await TopologyAsync();
            return topology.Nodes.Count(n => n.Status == NodeStatus.Active) == 3 && topology.Links.Count >= 2 && topology.Links.All(l => l.RttMs is not null);
        }, Timeout, () => $"three active nodes with measured links; registry log: {Registry.Stderr}");
    }

    public async Task<Topology> TopologyAsync() =>
        (await Http.GetFromJsonAsync<Topology>(new Uri(Registry.Url, "/topology"), RegistryJson.Options))!;

    private TempHome Home()
    {
        var home = new TempHome();
        _homes.Add(home);
        return home;
    }

    private static async Task<string> InitAsync(TempHome home)
    {
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0", "--json"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        using var json = System.Text.Json.JsonDocument.Parse(init.Stdout);
        return json.RootElement.GetProperty("peerId").GetString()!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes) await node.DisposeAsync();
        if (Registry is not null) await Registry.DisposeAsync();
        Http.Dispose();
        foreach (var home in _homes) home.Dispose();
    }
}
