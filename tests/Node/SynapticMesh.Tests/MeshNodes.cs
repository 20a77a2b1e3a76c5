namespace SynapticMesh.Tests;

/// <summary>
/// Three running nodes on 127.0.0.1 (mDNS off), all connected to each other, shared by the DHT, pubsub and swarm
/// tests (one collection: they run one after the other, so the machine runs three nodes for them, not nine).
/// </summary>
public sealed class ThreeNodes : IAsyncLifetime
{
    private readonly TempHome[] _homes = [new(), new(), new()];

    public NodeProcess A { get; private set; } = null!;

    public NodeProcess B { get; private set; } = null!;

    public NodeProcess C { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var home in _homes)
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        var started = await Task.WhenAll(_homes.Select(h => NodeProcess.StartAsync(h)));
        (A, B, C) = (started[0], started[1], started[2]);
        await B.RunJsonAsync("p2p", "connect", A.TcpAddress);
        await C.RunJsonAsync("p2p", "connect", B.TcpAddress);
        await C.RunJsonAsync("p2p", "connect", A.TcpAddress);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { A, B, C })
        {
            if (node is not null) await node.DisposeAsync();
        }
        foreach (var home in _homes) home.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ThreeNodesCollection : ICollectionFixture<ThreeNodes>
{
    public const string Name = "three nodes";
}
