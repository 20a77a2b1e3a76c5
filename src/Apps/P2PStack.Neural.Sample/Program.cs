// Two agents on two nodes coordinate over the neural mesh: a planner hands a task to a worker, the worker reports
// its thoughts back, the planner runs a command on the worker and waits for the response, and both report their
// health to their swarm. Run: dotnet run --project src/Apps/P2PStack.Neural.Sample
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack;
using P2PStack.Network;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using P2PStack.Neural.Sample;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using P2PStack.Security.Noise;
using P2PStack.Transports.Tcp;

using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
var token = timeout.Token;

using var plannerNode = await StartNodeAsync("planner", token);
using var workerNode = await StartNodeAsync("worker", token);
var planner = plannerNode.Services.GetRequiredService<NeuralMesh>();
var worker = workerNode.Services.GetRequiredService<NeuralMesh>();
var plannerHost = plannerNode.Services.GetRequiredService<IPeerHost>();
var workerHost = workerNode.Services.GetRequiredService<IPeerHost>();

// Connect the nodes; once the DHT tables hold each other, agent names resolve through signed /agent records.
await plannerHost.DialAsync(workerHost.ListenAddresses[0].Encapsulate($"/p2p/{workerHost.PeerId}"), token);
var plannerDht = plannerNode.Services.GetRequiredService<KademliaDht>();
while (plannerDht.RoutingTable.Count == 0) await Task.Delay(50, token);
await worker.PublishAgentAsync("worker", token);
Console.WriteLine($"planner on {plannerHost.PeerId}, worker on {workerHost.PeerId}");
Console.WriteLine($"'worker' resolves to {await planner.ResolveAgentAsync("worker", token)}");

// 1. Coordination: the planner assigns a task (high priority, short TTL).
await planner.SendAsync(NeuralDestination.Agent("worker"),
    new AgentCoordination { TaskId = "task-42", Action = "assign", Content = "summarise the logs", Agents = { "worker" } },
    new SendOptions { FromAgent = "planner", Priority = 9, Ttl = TimeSpan.FromSeconds(30) }, token);

// 2. The worker's handler answers with a thought; wait for it to reach the planner.
var thought = await plannerNode.Services.GetRequiredService<Inbox>().Thoughts.Reader.ReadAsync(token);
Console.WriteLine($"planner got a thought from {thought.SourceAgent}: \"{thought.Body.Content}\" (confidence {thought.Body.Confidence})");

// 3. Request/response: a command with a timeout.
var reply = await planner.SendCommandAsync(NeuralDestination.Agent("worker"), new Command { Name = "count-words", Args = { "the quick brown fox" } },
    new SendOptions { FromAgent = "planner" }, TimeSpan.FromSeconds(10), token);
Console.WriteLine($"command answered by {reply.SourceAgent}: success={reply.Body.Success}, {reply.Body.Content}");

// 4. Swarm: both joined "team" at start; the worker reports its health to everyone in it.
var gossip = plannerNode.Services.GetRequiredService<GossipSubService>();
while (gossip.GetPeers(NeuralProtocol.SwarmTopic("team", "telemetry")).Count == 0) await Task.Delay(50, token);
await worker.PublishAsync("team", new HealthCheck { Status = HealthCheck.Types.Status.Healthy, UptimeSeconds = 5, Content = "all good" },
    new SendOptions { FromAgent = "worker" }, token);
var health = await plannerNode.Services.GetRequiredService<Inbox>().Health.Reader.ReadAsync(token);
Console.WriteLine($"swarm 'team': {health.SourceAgent} is {health.Body.Status} ({health.Body.Content})");

var stats = planner.GetStats();
Console.WriteLine($"planner sent {string.Join(", ", stats.SentByType.Select(kv => $"{kv.Value} {kv.Key}"))}; "
    + $"received {string.Join(", ", stats.ReceivedByType.Select(kv => $"{kv.Value} {kv.Key}"))}");
await plannerNode.StopAsync(token);
await workerNode.StopAsync(token);

static async Task<IHost> StartNodeAsync(string agent, CancellationToken cancellationToken)
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Services.AddSingleton<Inbox>();
    builder.Services.AddNeuralHandler<AgentCoordination, WorkerTaskHandler>();
    builder.Services.AddNeuralHandler<Thought, InboxThoughtHandler>();
    builder.Services.AddNeuralHandler<HealthCheck, InboxHealthHandler>();
    builder.Services.AddNeuralCommandHandler<WordCountHandler>();
    builder.Services.AddP2PStack(p2p => p2p
        .ListenOn("/ip4/127.0.0.1/tcp/0")
        .AddTcpTransport()
        .AddNoise()
        .AddYamux()
        .AddIdentify()
        .AddKademlia(kad => kad.ProtocolId = "/synaptic/kad/1.0.0")
        .AddGossipSub()
        .AddNeuralMesh(neural =>
        {
            neural.Agents.Add(agent);
            neural.Swarms.Add("team");
        }));
    var host = builder.Build();
    // The peer host first: the DHT and the mesh start as hosted services on top of it.
    await host.Services.GetRequiredService<IPeerHost>().StartAsync(cancellationToken);
    await host.StartAsync(cancellationToken);
    return host;
}
