using System.Text.Json.Nodes;
using SynapticMesh.Tests;

namespace SynapticMesh.Interop.Tests;

/// <summary>
/// Two synaptic-mesh nodes started by the CLI with <c>p2p init --dht-protocol /ipfs/kad/1.0.0</c> and two js-libp2p
/// peers, all on 127.0.0.1, in a star around js peer J1: J2, A and B each connect to J1 only, so whatever A and B
/// learn of each other and of J2 (DHT peers, providers, records, pubsub messages) travels through a js peer.
/// </summary>
public sealed class MixedNetwork : IAsyncLifetime
{
    public const string IpfsDht = "/ipfs/kad/1.0.0";

    private readonly TempHome _homeA = new();
    private readonly TempHome _homeB = new();

    public JsDiscoveryPeer J1 { get; private set; } = null!;

    public JsDiscoveryPeer J2 { get; private set; } = null!;

    public NodeProcess A { get; private set; } = null!;

    public NodeProcess B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var home in new[] { _homeA, _homeB })
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0",
                "--dht-protocol", IpfsDht]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        var js = Task.WhenAll(JsDiscoveryPeer.StartAsync("J1"), JsDiscoveryPeer.StartAsync("J2"));
        var nodes = Task.WhenAll(NodeProcess.StartAsync(_homeA), NodeProcess.StartAsync(_homeB));
        (J1, J2) = ((await js)[0], (await js)[1]);
        (A, B) = ((await nodes)[0], (await nodes)[1]);

        await J2.RunAsync("dial", new JsonObject { ["addr"] = J1.Address });
        foreach (var node in new[] { A, B }) await node.RunJsonAsync("p2p", "connect", J1.Address);
        // Everyone in J1's routing table, and J1 in A's and B's: the DHT is joined (js adds peers after identify).
        await Eventually.HoldsAsync(async () => (await J1.RunAsync("routingTable"))["size"]!.GetValue<int>(), size => size >= 3,
            "J1's routing table holds J2, A and B");
        foreach (var node in new[] { A, B })
        {
            await Eventually.HoldsAsync(() => node.RunJsonAsync("p2p", "discover", "--method", "kademlia", "--count", "1", "--timeout", "2"),
                d => d.GetProperty("peers").EnumerateArray().Any(p => p.GetProperty("peerId").GetString() == J1.PeerId.ToString()),
                "J1 in the node's routing table");
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { A, B })
        {
            if (node is not null) await node.DisposeAsync();
        }
        foreach (var js in new[] { J1, J2 })
        {
            if (js is not null) await js.DisposeAsync();
        }
        _homeA.Dispose();
        _homeB.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class MixedNetworkCollection : ICollectionFixture<MixedNetwork>
{
    public const string Name = "mixed CLI and js network";
}
