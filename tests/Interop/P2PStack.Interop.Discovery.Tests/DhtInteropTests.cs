using System.Text.Json.Nodes;
using P2PStack.Addressing;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>
/// js and C# nodes in one DHT (/ipfs/kad/1.0.0) find each other's peers, values and providers in both directions.
/// C# queries run on a fresh client whose only contact is a js node; js queries bypass js's local caches.
/// </summary>
[Collection(MixedNetworkCollection.Name)]
public sealed class DhtInteropTests(MixedNetwork network)
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(20);

    private static string Unique(string prefix) => $"/test/{prefix}-{Guid.NewGuid():N}";

    private static Cid NewCid() => Cid.V1(Multicodec.Raw, Multihash.Sha2_256(Guid.NewGuid().ToByteArray()));

    private static CancellationToken Timeout() => new CancellationTokenSource(QueryTimeout).Token;

    private static List<string> Strings(JsonNode? array) => [.. array!.AsArray().Select(n => n!.GetValue<string>())];

    [Fact]
    public async Task CSharpFindsTheAddressOfAJsPeerItNeverConnectedTo()
    {
        var target = network.Js[2];
        await using var querier = await MixedNetwork.StartQuerierAsync(network.Js[0]);
        Assert.Empty(querier.Host.GetConnections(target.PeerId)); // so the answer cannot come from a connection

        var found = await querier.Dht.FindPeerAsync(target.PeerId, Timeout());

        Assert.Equal(target.PeerId, found.Peer);
        Assert.Contains(target.TransportAddresses[0], found.Addresses);
    }

    [Fact]
    public async Task JsFindsTheAddressOfACSharpPeerOverTheNetwork()
    {
        var target = network.CSharp[1];
        var answer = await network.Js[0].CommandAsync("findPeer", new JsonObject { ["peer"] = target.PeerId.ToString() });

        Assert.Contains(target.Host.ListenAddresses[0].ToString(), Strings(answer["addresses"]));
        // Some peer of the network (not js's own peer store: useCache is off) named the target in a FIND_NODE answer.
        Assert.NotEmpty(Strings(answer["from"]));
    }

    [Fact]
    public async Task ClosestPeersOfAKeyIncludeNodesOfTheOtherImplementation()
    {
        byte[] key = System.Text.Encoding.UTF8.GetBytes(Unique("closest"));
        var jsAnswer = await network.Js[0].CommandAsync("getClosestPeers", new JsonObject { ["key"] = System.Text.Encoding.UTF8.GetString(key) });
        var jsSaw = jsAnswer["peers"]!.AsArray().Select(p => PeerId.Parse(p!["peer"]!.GetValue<string>())).ToHashSet();
        Assert.Superset(network.CSharpIds.ToHashSet(), jsSaw);

        await using var querier = await MixedNetwork.StartQuerierAsync(network.Js[1]);
        var csSaw = await querier.Dht.GetClosestPeersAsync(key, Timeout());
        Assert.Superset(network.JsIds.ToHashSet(), csSaw.ToHashSet());
    }

    [Fact]
    public async Task CSharpGetsAValuePutByJs()
    {
        string key = Unique("from-js");
        string value = $"put by js at {DateTimeOffset.UtcNow:O}";
        var put = await network.Js[1].CommandAsync("putValue", new JsonObject { ["key"] = key, ["value"] = value });
        // C# nodes validated the js record with their /test validator and stored it.
        Assert.NotEmpty(Strings(put["storedOn"]).Select(PeerId.Parse).Intersect(network.CSharpIds));

        await using var querier = await MixedNetwork.StartQuerierAsync(network.Js[0]);
        byte[] got = await querier.Dht.GetValueAsync(System.Text.Encoding.UTF8.GetBytes(key), Timeout());
        Assert.Equal(value, System.Text.Encoding.UTF8.GetString(got));
    }

    [Fact]
    public async Task JsGetsAValuePutByCSharp()
    {
        string key = Unique("from-cs");
        string value = $"put by C# at {DateTimeOffset.UtcNow:O}";
        int stored = await network.CSharp[1].Dht.PutValueAsync(System.Text.Encoding.UTF8.GetBytes(key), System.Text.Encoding.UTF8.GetBytes(value), Timeout());
        Assert.True(stored >= 3, $"stored on {stored} peers");

        var answer = await network.Js[2].CommandAsync("getValue", new JsonObject { ["key"] = key });
        Assert.Equal(value, answer["value"]!.GetValue<string>());
        var sources = answer["values"]!.AsArray().Select(v => PeerId.Parse(v!["from"]!.GetValue<string>())).ToList();
        Assert.NotEmpty(sources.Intersect(network.CSharpIds)); // C# nodes answered js's GET_VALUE with the record
    }

    [Fact]
    public async Task BothImplementationsSelectTheSameBestValue()
    {
        string key = Unique("select");
        byte[] keyBytes = System.Text.Encoding.UTF8.GetBytes(key);
        await network.CSharp[0].Dht.PutValueAsync(keyBytes, "value-1"u8.ToArray(), Timeout());
        await network.Js[1].CommandAsync("putValue", new JsonObject { ["key"] = key, ["value"] = "value-2" });

        var jsAnswer = await network.Js[2].CommandAsync("getValue", new JsonObject { ["key"] = key });
        Assert.Equal("value-2", jsAnswer["value"]!.GetValue<string>());
        await using var querier = await MixedNetwork.StartQuerierAsync(network.Js[0]);
        Assert.Equal("value-2"u8.ToArray(), await querier.Dht.GetValueAsync(keyBytes, Timeout()));
        // A C# node that held the worse value was corrected: its own lookup now settles on value-2 too.
        Assert.Equal("value-2"u8.ToArray(), await network.CSharp[0].Dht.GetValueAsync(keyBytes, Timeout()));
    }

    [Fact]
    public async Task PublicKeyRecordsAreAcceptedBothWays()
    {
        var cs = network.CSharp[2];
        byte[] csKey = PublicKeyValidator.KeyFor(cs.PeerId);
        Assert.True(await cs.Dht.PutValueAsync(csKey, cs.PublicKey.ToProtobuf(), Timeout()) >= 3);
        var jsGot = await network.Js[1].CommandAsync("getValue", new JsonObject { ["keyHex"] = Convert.ToHexStringLower(csKey) });
        Assert.Equal(Convert.ToHexStringLower(cs.PublicKey.ToProtobuf()), jsGot["valueHex"]!.GetValue<string>());

        var js = network.Js[2];
        string jsPublicKey = (await js.CommandAsync("info"))["publicKeyHex"]!.GetValue<string>();
        byte[] jsKey = PublicKeyValidator.KeyFor(js.PeerId);
        var put = await js.CommandAsync("putValue", new JsonObject { ["keyHex"] = Convert.ToHexStringLower(jsKey), ["valueHex"] = jsPublicKey });
        Assert.NotEmpty(Strings(put["storedOn"]).Select(PeerId.Parse).Intersect(network.CSharpIds));
        await using var querier = await MixedNetwork.StartQuerierAsync(network.Js[0]);
        Assert.Equal(jsPublicKey, Convert.ToHexStringLower(await querier.Dht.GetValueAsync(jsKey, Timeout())));
    }

    [Fact]
    public async Task CSharpFindsProvidersAnnouncedByJs()
    {
        var cid = NewCid();
        var provider = network.Js[1];
        await provider.CommandAsync("provide", new JsonObject { ["cid"] = cid.ToString() });

        await using var querier = await MixedNetwork.StartQuerierAsync(network.Js[0]);
        var providers = await querier.Dht.FindProvidersAsync(cid, Timeout());
        var found = Assert.Single(providers, p => p.Peer == provider.PeerId);
        Assert.Contains(provider.TransportAddresses[0], found.Addresses);
    }

    [Fact]
    public async Task JsFindsProvidersAnnouncedByCSharp()
    {
        var cid = NewCid();
        var provider = network.CSharp[2];
        Assert.True(await provider.Dht.ProvideAsync(cid, Timeout()) >= 3);

        var answer = await network.Js[0].CommandAsync("findProviders", new JsonObject { ["cid"] = cid.ToString() });
        var found = Assert.Single(answer["providers"]!.AsArray(), p => p!["peer"]!.GetValue<string>() == provider.PeerId.ToString());
        Assert.Contains(provider.Host.ListenAddresses[0].ToString(), Strings(found!["addresses"]));
    }
}
