using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary><c>p2p dht ...</c> and <c>p2p discover --method kademlia</c> across three real nodes.</summary>
[Collection(ThreeNodesCollection.Name)]
public sealed class DhtCliTests(ThreeNodes nodes)
{
    [Fact]
    public async Task PutOnOneNodeGetOnAnother_PlainKeysAreTheVNamespace()
    {
        string name = $"greeting-{Guid.NewGuid():N}";
        var put = await nodes.A.RunJsonAsync("p2p", "dht", "put", name, "hello \u001b[31mdht");
        Assert.Equal($"/v/{name}", put.GetProperty("key").GetString());
        Assert.True(put.GetProperty("storedOn").GetInt32() >= 1);

        var get = await nodes.C.RunJsonAsync("p2p", "dht", "get", $"/v/{name}");
        Assert.Equal("hello \u001b[31mdht", get.GetProperty("value").GetString());
        var text = await nodes.B.RunAsync("p2p", "dht", "get", name);
        Assert.Equal("hello \\e[31mdht", text.Stdout.Trim()); // escaped on the terminal

        // A value from stdin, binary: base64 in JSON, no text.
        var stdin = await nodes.B.RunWithInputAsync("\u0001\u0002binary", "p2p", "dht", "put", $"{name}-bin", "-", "--json");
        Assert.True(stdin.ExitCode == 0, stdin.Stderr);
        var binary = await nodes.A.RunJsonAsync("p2p", "dht", "get", $"{name}-bin");
        Assert.Equal(Convert.ToBase64String("\u0001\u0002binary"u8), binary.GetProperty("valueBase64").GetString());
    }

    [Fact]
    public async Task MissingValuesAndBadKeysAreClearErrors()
    {
        var missing = await nodes.A.RunAsync("p2p", "dht", "get", $"absent-{Guid.NewGuid():N}", "--json");
        missing.AssertOneLineError("no value for /v/absent-");
        Assert.Equal("not_found", missing.JsonError().GetProperty("code").GetString());

        (await nodes.A.RunAsync("p2p", "dht", "put", "/nsonly", "x")).AssertOneLineError("is not a DHT key");
        Assert.Equal(2, (await nodes.A.RunAsync("p2p", "dht", "put", "/nsonly", "x")).ExitCode);
        var unknown = await nodes.A.RunAsync("p2p", "dht", "put", "/unknown-ns/x", "x");
        unknown.AssertOneLineError("no validator for record namespace 'unknown-ns'");
        (await nodes.A.RunAsync("p2p", "dht", "findpeer", "not-a-peer")).AssertOneLineError("is not a peer id");
    }

    [Fact]
    public async Task ProvideThenFindProvidersFromAnotherNode_TextKeysAndCids()
    {
        string content = $"content-{Guid.NewGuid():N}";
        var provide = await nodes.A.RunJsonAsync("p2p", "dht", "provide", content);
        string cid = provide.GetProperty("cid").GetString()!;
        Assert.StartsWith("bafkrei", cid); // CIDv1, raw, sha2-256 of the text

        var byText = await nodes.C.RunJsonAsync("p2p", "dht", "findprovs", content);
        Assert.Equal(cid, byText.GetProperty("cid").GetString());
        var provider = Assert.Single(byText.GetProperty("providers").EnumerateArray());
        Assert.Equal(nodes.A.PeerId, provider.GetProperty("peerId").GetString());
        Assert.NotEmpty(provider.GetProperty("addresses").EnumerateArray());

        var byCid = await nodes.B.RunJsonAsync("p2p", "dht", "findprovs", cid, "--count", "1");
        Assert.Equal(nodes.A.PeerId, Assert.Single(byCid.GetProperty("providers").EnumerateArray()).GetProperty("peerId").GetString());
        var table = await nodes.B.RunAsync("p2p", "dht", "findprovs", cid);
        Assert.StartsWith($"{nodes.A.PeerId}\t/ip4/127.0.0.1/tcp/", table.Stdout); // piped: tab-separated, no header

        var none = await nodes.B.RunJsonAsync("p2p", "dht", "findprovs", $"nobody-{Guid.NewGuid():N}");
        Assert.Empty(none.GetProperty("providers").EnumerateArray());
    }

    [Fact]
    public async Task FindPeerAndKademliaDiscovery()
    {
        var found = await nodes.C.RunJsonAsync("p2p", "dht", "findpeer", nodes.A.PeerId);
        Assert.Equal(nodes.A.PeerId, found.GetProperty("peerId").GetString());
        Assert.Contains(found.GetProperty("addresses").EnumerateArray(), a => nodes.A.TcpAddress.StartsWith(a.GetString()!, StringComparison.Ordinal));

        var discovered = await Eventually.HoldsAsync(() => nodes.A.RunJsonAsync("p2p", "discover", "--method", "kademlia", "--count", "2", "--timeout", "5"),
            d => d.GetProperty("peers").GetArrayLength() == 2, "both other nodes in A's routing table");
        Assert.Equal("kademlia", discovered.GetProperty("method").GetString());
        var peers = discovered.GetProperty("peers").EnumerateArray().ToList();
        Assert.Equal(new[] { nodes.B.PeerId, nodes.C.PeerId }.Order(), peers.Select(p => p.GetProperty("peerId").GetString()).Order());
        Assert.All(peers, p => Assert.Equal("kademlia", p.GetProperty("source").GetString()));
        Assert.All(peers, p => Assert.NotEmpty(p.GetProperty("addresses").EnumerateArray()));

        // mDNS is off on these loopback nodes (auto): discover says how to turn it on.
        var mdns = await nodes.A.RunAsync("p2p", "discover", "--method", "mdns");
        mdns.AssertOneLineError("mDNS is off on this node");
        var bad = await nodes.A.RunAsync("p2p", "discover", "--method", "carrier-pigeon");
        bad.AssertOneLineError("'carrier-pigeon' not recognized. Must be one of: 'kademlia', 'mdns'");
        Assert.Equal(2, bad.ExitCode);
    }
}
