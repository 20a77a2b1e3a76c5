namespace SynapticMesh.Tests;

/// <summary>The node runs the Kademlia DHT with its records and providers in the home's SQLite database.</summary>
public sealed class DhtStoreTests : IDisposable
{
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task TheNodeServesTheDhtAndKeepsItsStoreInTheHome()
    {
        Directory.CreateDirectory(_home.Path);
        await File.WriteAllTextAsync(_home.File("config.json"), """{"listen":["/ip4/127.0.0.1/tcp/0"],"bootstrap":[],"maxPeers":8}""");
        await using (var node = await NodeProcess.StartAsync(_home, null, "--no-passphrase"))
        {
            var status = await node.RunJsonAsync("p2p", "status");
            Assert.Contains("/synaptic/kad/1.0.0", status.GetProperty("protocols").EnumerateArray().Select(p => p.GetString()));
            Assert.True(File.Exists(_home.File("dht.db")));
        }
        // Still there after the node stopped: the next start reopens it.
        Assert.True(new FileInfo(_home.File("dht.db")).Length > 0);
    }
}
