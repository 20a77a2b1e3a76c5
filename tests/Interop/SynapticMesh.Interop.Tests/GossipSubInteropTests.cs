using System.Text.Json.Nodes;
using SynapticMesh.Tests;

namespace SynapticMesh.Interop.Tests;

/// <summary>A mixed gossipsub mesh of js peers and CLI-run nodes delivers <c>p2p publish</c> messages both ways.</summary>
[Collection(MixedNetworkCollection.Name)]
public sealed class GossipSubInteropTests(MixedNetwork network)
{
    [Fact]
    public async Task PublishedMessagesCrossBetweenJsAndTheNodes()
    {
        string topic = $"interop-{Guid.NewGuid():N}";
        await using var onA = await CliStream.StartAsync(network.A, "p2p", "subscribe", topic, "--json");
        await using var onB = await CliStream.StartAsync(network.B, "p2p", "subscribe", topic, "--json");
        foreach (var js in new[] { network.J1, network.J2 }) await js.RunAsync("subscribe", new JsonObject { ["topic"] = topic });
        // Every node knows the subscribers next to it (B's messages reach A through J1).
        await Eventually.HoldsAsync(async () => (await network.J1.RunAsync("peers", new JsonObject { ["topic"] = topic }))["topicPeers"]!.AsArray().Count,
            n => n == 3, "J1 knows A, B and J2 subscribed");
        foreach (var node in new[] { network.A, network.B })
        {
            await Eventually.HoldsAsync(() => node.RunJsonAsync("p2p", "pubsub", "peers", topic),
                p => p.GetProperty("peers").EnumerateArray().Any(e => e.GetProperty("peerId").GetString() == network.J1.PeerId.ToString()),
                "the node knows J1 subscribed");
        }

        // From a node: the js peers and the other node (through J1) receive it.
        await network.A.RunJsonAsync("p2p", "publish", topic, "from the CLI");
        var atB = await onB.ReadJsonAsync();
        Assert.Equal(("from the CLI", network.A.PeerId), (atB.GetProperty("data").GetString(), atB.GetProperty("from").GetString()));
        foreach (var js in new[] { network.J1, network.J2 })
        {
            var messages = await Eventually.HoldsAsync(async () => (await js.RunAsync("messages", new JsonObject { ["topic"] = topic }))["messages"]!.AsArray(),
                m => m.Count >= 1, $"{js.Label} received the node's message");
            var message = Assert.Single(messages);
            Assert.Equal(("from the CLI", network.A.PeerId, true),
                (message!["data"]!.GetValue<string>(), message["from"]!.GetValue<string>(), message["signed"]!.GetValue<bool>()));
        }

        // From js, two hops from A: both nodes' subscribe commands print it.
        await network.J2.RunAsync("publish", new JsonObject { ["topic"] = topic, ["data"] = "from js" });
        foreach (var stream in new[] { onA, onB })
        {
            var fromJs = await stream.ReadJsonAsync();
            if (fromJs.GetProperty("data").GetString() == "from the CLI") fromJs = await stream.ReadJsonAsync(); // A sees its own message too
            Assert.Equal(("from js", network.J2.PeerId.ToString()), (fromJs.GetProperty("data").GetString(), fromJs.GetProperty("from").GetString()));
        }
    }
}
