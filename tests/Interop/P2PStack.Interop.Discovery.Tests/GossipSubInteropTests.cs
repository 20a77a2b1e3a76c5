using System.Text.Json.Nodes;
using P2PStack.Identity;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>
/// A mixed gossipsub mesh (3 js + 3 C# nodes, StrictSign on both sides) delivers every message published on either
/// side to every subscriber, with the author's signature verified by each receiver.
/// </summary>
[Collection(MixedNetworkCollection.Name)]
public sealed class GossipSubInteropTests(MixedNetwork network)
{
    private const int MessagesPerNode = 2;

    [Fact]
    public async Task EveryMessagePublishedOnEitherSideReachesEverySubscriber()
    {
        string topic = $"interop-{Guid.NewGuid():N}";
        foreach (var c in network.CSharp) await c.SubscribeAsync(topic);
        foreach (var j in network.Js) await j.CommandAsync("subscribe", new JsonObject { ["topic"] = topic });
        await WaitForConnectedMeshAsync(topic);

        var published = new List<(PeerId Author, string Data)>();
        for (int round = 0; round < MessagesPerNode; round++)
        {
            foreach (var c in network.CSharp)
            {
                string data = $"{c.Name} message {round} {Guid.NewGuid():N}";
                await c.PubSub.PublishAsync(topic, System.Text.Encoding.UTF8.GetBytes(data));
                published.Add((c.PeerId, data));
            }
            foreach (var j in network.Js)
            {
                string data = $"{j.Name} message {round} {Guid.NewGuid():N}";
                await j.CommandAsync("publish", new JsonObject { ["topic"] = topic, ["data"] = data });
                published.Add((j.PeerId, data));
            }
        }

        int expected = published.Count - MessagesPerNode; // everything but a node's own messages
        foreach (var c in network.CSharp)
        {
            await Eventually.WaitAsync(() => c.Received(topic).Count >= expected,
                () => $"{c} received {c.Received(topic).Count} of {expected} messages");
            var received = c.Received(topic).Select(m => (m.Author!, System.Text.Encoding.UTF8.GetString(m.Data.Span))).ToHashSet();
            Assert.Equal(published.Where(p => p.Author != c.PeerId).ToHashSet(), received);
            Assert.All(c.Received(topic), m => Assert.True(m.Raw.HasSignature && m.Raw.Signature.Length > 0));
        }
        foreach (var j in network.Js)
        {
            JsonArray messages = [];
            await Eventually.WaitAsync(async () =>
            {
                messages = (await j.CommandAsync("messages", new JsonObject { ["topic"] = topic }))["messages"]!.AsArray();
                return messages.Count >= expected;
            }, () => $"{j} received {messages.Count} of {expected} messages");
            Assert.All(messages, m =>
            {
                Assert.Equal("signed", m!["type"]!.GetValue<string>());
                Assert.True(m["signed"]!.GetValue<bool>());
            });
            var received = messages.Select(m => (PeerId.Parse(m!["from"]!.GetValue<string>()), m["data"]!.GetValue<string>())).ToHashSet();
            Assert.Equal(published.Where(p => p.Author != j.PeerId).ToHashSet(), received);
            Assert.Equal(expected, messages.Count); // no duplicates delivered
        }
    }

    // Publishing before the meshes exist would test fanout and gossip timing, not delivery: wait until the mesh
    // links (as each node sees them) connect all six nodes, and every node has at least one mesh peer.
    private async Task WaitForConnectedMeshAsync(string topic)
    {
        var all = network.CSharpIds.Concat(network.JsIds).ToList();
        var links = new Dictionary<PeerId, IReadOnlyCollection<PeerId>>();
        await Eventually.WaitAsync(async () =>
        {
            foreach (var c in network.CSharp) links[c.PeerId] = c.PubSub.GetMeshPeers(topic);
            foreach (var j in network.Js)
            {
                var peers = await j.CommandAsync("peers", new JsonObject { ["topic"] = topic });
                links[j.PeerId] = [.. peers["meshPeers"]!.AsArray().Select(p => PeerId.Parse(p!.GetValue<string>()))];
            }
            if (links.Values.Any(l => l.Count == 0)) return false;
            var reached = new HashSet<PeerId> { all[0] };
            var queue = new Queue<PeerId>(reached);
            while (queue.TryDequeue(out var peer))
            {
                var neighbours = links.GetValueOrDefault(peer, []).Concat(links.Where(kv => kv.Value.Contains(peer)).Select(kv => kv.Key));
                foreach (var next in neighbours)
                    if (all.Contains(next) && reached.Add(next)) queue.Enqueue(next);
            }
            return reached.Count == all.Count;
        }, () => "the topic mesh connects all six nodes: " + string.Join("; ", links.Select(kv => $"{kv.Key}: {kv.Value.Count}")));
    }
}
