using System.Diagnostics;
using P2PStack.Neural.Messages;
using Xunit.Abstractions;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

public class TenNodeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = NeuralPeer.Patience;

    [Fact]
    public async Task Ten_nodes_exchange_every_message_type_across_the_mesh()
    {
        const int count = 10;
        var network = new MemoryNetwork();
        var peers = new List<NeuralPeer>();
        var clock = Stopwatch.StartNew();
        void Mark(string what) => output.WriteLine($"{clock.Elapsed.TotalSeconds:0.00} s: {what}");
        try
        {
            for (int i = 0; i < count; i++) peers.Add(await NeuralPeer.StartAsync(network));
            Mark("started");
            // A ring: most pairs are not connected, so agents are found through the DHT and dialed on demand.
            for (int i = 0; i < count; i++) await peers[i].ConnectAsync(peers[(i + 1) % count]);
            await NeuralPeer.WaitUntil(() => peers.All(p => p.Dht.RoutingTable.Count >= 2), "DHT routing tables");
            Mark("tables");
            foreach (var peer in peers) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
            Mark("refreshed");
            for (int i = 0; i < count; i++)
                Assert.True(await peers[i].Mesh.RegisterAgentAsync($"agent-{i:000}").WaitAsync(Patience) >= 1, $"agent-{i:000} stored nowhere");
            Mark("agents");
            foreach (var peer in peers) await peer.Mesh.JoinSwarmAsync("hive").WaitAsync(Patience);

            Mark("joined");
            // Direct: every node sends every type to the agent five hops round the ring.
            var directTypes = NeuralMessageTypes.All.Where(t => t.Type is not MessageType.Response and not MessageType.Command).ToList();
            await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                var to = NeuralDestination.Agent($"agent-{(i + 5) % count:000}");
                foreach (var info in directTypes)
                    await (await peers[i].Mesh.PostAsync(to, TestMessages.SampleBody(info.Type), new SendOptions { FromAgent = $"agent-{i:000}" })).Sent;
                // And a command answered by the agent three hops away.
                var reply = await peers[i].Mesh.SendCommandAsync(NeuralDestination.Agent($"agent-{(i + 3) % count:000}"),
                    new Command { Name = "echo", Args = { $"from {i}" } }, new SendOptions { FromAgent = $"agent-{i:000}" });
                Assert.Equal($"{peers[(i + 3) % count].PeerId}: from {i}", reply.Body.Content);
            })).WaitAsync(Patience);

            Mark("direct done");
            // A send completes when written and a command when its response is matched; the receivers' recorders get
            // the messages from their dispatch loops, which may still be delivering (CI run N saw a response not yet
            // recorded): wait for everything, then check what arrived.
            await NeuralPeer.WaitUntil(() => Enumerable.Range(0, count).All(i =>
            {
                var messages = peers[i].Recorder.Messages.ToList();
                string sender = $"agent-{(i + count - 5) % count:000}";
                return messages.Count(m => m.SourceAgent == sender && m.Destination.Kind == DestinationKind.Agent
                        && m.Type != MessageType.Command && m.Type != MessageType.Response) >= directTypes.Count
                    && messages.Any(m => m.Type == MessageType.Command && m.SourceAgent == $"agent-{(i + count - 3) % count:000}")
                    && messages.Any(m => m.Type == MessageType.Response);
            }), "every direct message, command and response recorded");
            for (int i = 0; i < count; i++)
            {
                var sender = $"agent-{(i + count - 5) % count:000}";
                var direct = peers[i].Recorder.Messages.Where(m => m.SourceAgent == sender && m.Destination.Kind == DestinationKind.Agent
                    && m.Type != MessageType.Command && m.Type != MessageType.Response).ToList();
                Assert.Equal(directTypes.Select(t => t.Type), direct.Select(m => m.Type));
                Assert.Contains(peers[i].Recorder.Messages, m => m.Type == MessageType.Command && m.SourceAgent == $"agent-{(i + count - 3) % count:000}");
                Assert.Contains(peers[i].Recorder.Messages, m => m.Type == MessageType.Response);
            }

            Mark("checked");
            // Swarm: every member publishes one message of each family; everyone else receives them all.
            var gossipTypes = new[] { MessageType.Thought, MessageType.AgentCoordination, MessageType.SwarmSync, MessageType.ConsensusVote, MessageType.MetricsUpdate };
            // Every family's topic, not just one: a publisher that knows no subscriber of a topic yet sends to nobody.
            await NeuralPeer.WaitUntil(() => peers.All(p => NeuralMessageTypes.SwarmFamilies.All(f =>
                p.Get<Protocols.GossipSub.GossipSubService>().GetMeshPeers(NeuralProtocol.SwarmTopic("hive", f)).Count >= 1)), "swarm meshes");
            foreach (var peer in peers)
                foreach (var type in gossipTypes)
                    await peer.Mesh.PostAsync(NeuralDestination.Swarm("hive"), TestMessages.SampleBody(type));
            await NeuralPeer.WaitUntil(() => peers.All(p => p.Recorder.Messages.Count(m => m.Destination.Kind == DestinationKind.Swarm)
                == (count - 1) * gossipTypes.Length), "every swarm message everywhere");
            Mark("swarm done");
            Assert.All(peers, p => Assert.Empty(p.Mesh.GetStats().DroppedByTypeAndReason));
        }
        finally
        {
            await Task.WhenAll(peers.Select(p => p.DisposeAsync().AsTask()));
            Mark("disposed");
        }
    }
}
