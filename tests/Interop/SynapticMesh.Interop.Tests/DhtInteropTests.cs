using System.Text;
using System.Text.Json.Nodes;
using P2PStack.Encoding;
using SynapticMesh.Tests;

namespace SynapticMesh.Interop.Tests;

/// <summary>
/// A node configured with <c>--dht-protocol /ipfs/kad/1.0.0</c> and js-libp2p kad-dht peers find each other's
/// providers and peers both ways, the node accepts the records js sends, and its own /agent records keep working.
/// </summary>
[Collection(MixedNetworkCollection.Name)]
public sealed class DhtInteropTests(MixedNetwork network)
{
    [Fact]
    public async Task ProvidersAreFoundBothWays()
    {
        // The node provides a text key (its CIDv1 raw sha2-256); js, two hops away, finds it.
        string text = $"cli-content-{Guid.NewGuid():N}";
        var provided = await network.A.RunJsonAsync("p2p", "dht", "provide", text);
        string cid = provided.GetProperty("cid").GetString()!;
        Assert.Equal(Cid.V1(Multicodec.Raw, Multihash.Sha2_256(Encoding.UTF8.GetBytes(text))).ToString(), cid);
        var found = await network.J2.RunAsync("findProviders", new JsonObject { ["cid"] = cid });
        var provider = Assert.Single(found["providers"]!.AsArray(), p => p!["peer"]!.GetValue<string>() == network.A.PeerId);
        Assert.Contains(provider!["addresses"]!.AsArray(), a => network.A.TcpAddress.StartsWith(a!.GetValue<string>(), StringComparison.Ordinal));

        // js provides a CID; the node finds it by the CID and by nothing else.
        string jsCid = Cid.V1(Multicodec.Raw, Multihash.Sha2_256(Guid.NewGuid().ToByteArray())).ToString();
        await network.J2.RunAsync("provide", new JsonObject { ["cid"] = jsCid });
        var providers = await network.B.RunJsonAsync("p2p", "dht", "findprovs", jsCid);
        var js = Assert.Single(providers.GetProperty("providers").EnumerateArray(), p => p.GetProperty("peerId").GetString() == network.J2.PeerId.ToString());
        Assert.Contains(js.GetProperty("addresses").EnumerateArray(), a => network.J2.Address.StartsWith(a.GetString()!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task PeersAreFoundBothWays()
    {
        // The node looks up J2 (connected only to J1) ...
        var found = await network.A.RunJsonAsync("p2p", "dht", "findpeer", network.J2.PeerId.ToString());
        Assert.Contains(found.GetProperty("addresses").EnumerateArray(), a => network.J2.Address.StartsWith(a.GetString()!, StringComparison.Ordinal));
        // ... and J2 looks up the node over the network (not its cache).
        var answer = await network.J2.RunAsync("findPeer", new JsonObject { ["peer"] = network.A.PeerId, ["useCache"] = false });
        Assert.Contains(answer["addresses"]!.AsArray(), a => network.A.TcpAddress.StartsWith(a!.GetValue<string>(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task RecordsJsSendsAreAcceptedAndAgentRecordsStillResolve()
    {
        // js stores its public key under /pk/<its multihash> on the closest peers: the nodes store it too.
        var info = await network.J2.RunAsync("info");
        byte[] key = [.. "/pk/"u8, .. network.J2.PeerId.Bytes.Span];
        var put = await network.J2.RunAsync("putValue", new JsonObject
        {
            ["keyHex"] = Convert.ToHexStringLower(key),
            ["valueHex"] = info["publicKeyHex"]!.GetValue<string>(),
        });
        var storedOn = put["storedOn"]!.AsArray().Select(p => p!.GetValue<string>()).ToList();
        Assert.Contains(network.A.PeerId, storedOn);
        Assert.Contains(network.B.PeerId, storedOn);

        // An IPNS record made by js-ipns, as go and js peers store them (/ipns/<multihash>): the nodes store it; a
        // forged one (signed by another key) they refuse.
        using var vectors = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "TestData", "ipns-records.json")));
        foreach (var (name, accepted) in new[] { ("ed25519 v2-only", true), ("record of another key", false) })
        {
            var vector = vectors.RootElement.GetProperty("records").EnumerateArray().Single(r => r.GetProperty("name").GetString() == name);
            var ipns = await network.J2.TryCommandAsync("putValue", new JsonObject
            {
                ["keyHex"] = vector.GetProperty("keyHex").GetString(),
                ["valueHex"] = vector.GetProperty("recordHex").GetString(),
            });
            var ipnsStoredOn = ipns["storedOn"]?.AsArray().Select(p => p!.GetValue<string>()).ToList() ?? [];
            Assert.Equal(accepted, ipnsStoredOn.Contains(network.A.PeerId));
            Assert.Equal(accepted, ipnsStoredOn.Contains(network.B.PeerId));
        }

        // The /agent namespace keeps working on the IPFS DHT: B resolves A's agent (A and B meet only through J1).
        await using var listen = await CliStream.StartAsync(network.A, "p2p", "listen", "--agent", "interop-agent", "--json");
        var deadline = DateTime.UtcNow + CliStream.Patience;
        CliResult sent;
        while (true)
        {
            sent = await network.B.RunAsync("p2p", "message", "interop-agent", "--msg-type", "thought", "--content", "via the IPFS DHT", "--json");
            if (sent.ExitCode == 0 || DateTime.UtcNow > deadline || !sent.Stderr.Contains("could not be resolved", StringComparison.Ordinal)) break;
            await Task.Delay(250); // the agent record may still be on its way to the closest peers
        }
        Assert.True(sent.ExitCode == 0, sent.Stderr);
        var message = await listen.ReadJsonAsync();
        Assert.Equal(("via the IPFS DHT", network.B.PeerId), (message.GetProperty("content").GetString(), message.GetProperty("from").GetString()));
    }
}
