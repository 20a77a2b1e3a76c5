using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Consensus.Dag;
using P2PStack.Muxers.Yamux;
using P2PStack.Transports.Memory;

namespace P2PStack.Simulation.Dag;

/// <summary>Settings of <see cref="DagHostScenario"/>.</summary>
public sealed class DagHostScenarioOptions
{
    public int Nodes { get; set; } = 50;

    public int Seed { get; set; } = 1;

    /// <summary>One-way latency of every link.</summary>
    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(25);

    /// <summary>Virtuous proposals decided before measuring (every node then holds the connections it polls over).</summary>
    public int WarmUpProposals { get; set; } = 4;

    public int ConflictSets { get; set; } = 4;

    /// <summary>Conflicting proposals per key, each at a different node, all at the same moment.</summary>
    public int ProposalsPerConflict { get; set; } = 2;

    public int VirtuousProposals { get; set; } = 8;

    /// <summary>Longest wait for the proposals to be decided everywhere.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

    public Action<DagConsensusOptions>? Consensus { get; set; }

    /// <summary>Nodes started at once.</summary>
    public int Concurrency { get; set; } = 16;

    /// <summary>How long a yamux keep-alive ping may wait for its pong before the connection is closed; null: yamux's
    /// default (10 s). All N hosts share one process: when it gets a fraction of a core, a pong can wait longer than
    /// that behind the other hosts' work although no link is at fault.</summary>
    public TimeSpan? MuxerPingTimeout { get; set; }

    /// <summary>Where the run reports its stages (connections after dialling and after the warm-up, then every 15 s).</summary>
    public Action<string>? Progress { get; set; }
}

/// <summary>Figures of a DAG consensus run on real hosts (times are wall-clock on this machine).</summary>
public sealed record DagHostScenarioResult(int Nodes, int Seed, IReadOnlyList<string> SafetyViolations, IReadOnlyList<string> Undecided,
    int Conflicts, int ConflictsResolved, IReadOnlyList<double> VirtuousLatenciesMs, IReadOnlyList<double> ConflictLatenciesMs, long Messages,
    long Polls, int Proposals, double CpuSeconds, double WallSeconds, double SetupSeconds, int ConnectionsBefore, int Connections, long SendsLimited, long SendsFailed, long InboxDropped)
{
    public bool Safe => SafetyViolations.Count == 0;

    public bool Live => Undecided.Count == 0;

    public double MessagesPerDecision => Proposals == 0 ? double.NaN : Messages / (double)Proposals;

    public override string ToString() =>
        $"DAG hosts N={Nodes} seed={Seed}: {(Safe ? "safe" : "UNSAFE: " + string.Join("; ", SafetyViolations))}, " +
        $"{(Live ? "live" : $"NOT LIVE ({Undecided.Count}, e.g. {string.Join("; ", Undecided.Take(3))})")}; conflicts resolved {ConflictsResolved}/{Conflicts}; " +
        $"virtuous p50 {Statistics.Percentile(VirtuousLatenciesMs, 50):F0} ms p99 {Statistics.Percentile(VirtuousLatenciesMs, 99):F0} ms; " +
        $"contested p50 {Statistics.Percentile(ConflictLatenciesMs, 50):F0} ms p99 {Statistics.Percentile(ConflictLatenciesMs, 99):F0} ms; " +
        $"{Proposals} proposals, {MessagesPerDecision:F0} messages per decision ({Polls} polls); CPU {CpuSeconds:F1} s in {WallSeconds:F1} s wall; " +
        $"set-up {SetupSeconds:F1} s; connections {ConnectionsBefore} before, {Connections} after; sends refused by the limit {SendsLimited}, " +
        $"undeliverable {SendsFailed}; inbox dropped {InboxDropped}";
}

/// <summary>
/// DAG consensus on N real hosts in one process (<see cref="Simulation"/>: memory transport with link latency, Noise,
/// Yamux, identify, the neural mesh and <c>AddDagConsensus</c>, every message a signed neural envelope on a neural
/// stream). All N are validators. After a warm-up, conflicting proposals are injected at several nodes at once with
/// virtuous ones; the run measures proposal-to-decision latency at every node and the DAG messages sent.
/// </summary>
public static class DagHostScenario
{
    public static async Task<DagHostScenarioResult> RunAsync(DagHostScenarioOptions scenario, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        long setupStart = Stopwatch.GetTimestamp();
        Simulation? simulation = null;
        var options = new SimulationOptions
        {
            Seed = scenario.Seed,
            Links = new MemoryLinkConditions { Latency = scenario.Latency },
            Concurrency = scenario.Concurrency,
            Modules = (p2p, node) =>
            {
                int n = scenario.Nodes;
                p2p.ConfigureHost(h =>
                {
                    // Every validator polls every other sooner or later: keep all those connections.
                    h.ConnectionManager.HighWater = n + 16;
                    h.ConnectionManager.LowWater = n + 8;
                    h.Limits.MaxConnections = 2 * n + 64;
                });
                if (scenario.MuxerPingTimeout is { } pingTimeout) p2p.Services.Configure<YamuxOptions>(o => o.PingTimeout = pingTimeout);
                p2p.AddNeuralMesh();
                p2p.AddDagConsensus(o =>
                {
                    o.Validators.AddRange(simulation!.Nodes.Select(v => new DagValidator(v.PeerId)));
                    scenario.Consensus?.Invoke(o);
                });
            },
        };
        await using var sim = Simulation.Create(scenario.Nodes, options);
        simulation = sim;
        await sim.StartAllAsync(cancellationToken).ConfigureAwait(false);
        var nodes = sim.Nodes;
        // Everyone knows where everyone listens, and every pair is connected before the warm-up (node i dials every
        // j > i, a few nodes at a time), as a validator set keeps its connections: the run measures voting, not
        // thousands of simultaneous handshakes.
        foreach (var node in nodes)
            foreach (var other in nodes.Where(o => o != node))
                node.Host.PeerStore.AddAddresses(other.PeerId, other.Host.ListenAddresses, TimeSpan.FromHours(1));
        int dialFailures = await ConnectMissingAsync(sim, nodes, cancellationToken).ConfigureAwait(false);
        int connectedAfterDial = Pairs(nodes);
        scenario.Progress?.Invoke($"{connectedAfterDial} of {nodes.Count * (nodes.Count - 1) / 2} pairs connected, {dialFailures} dials failed, " +
            $"{Stopwatch.GetElapsedTime(setupStart).TotalSeconds:F0} s");

        var decided = new ConcurrentDictionary<(int Node, VertexId Id), (VertexStatus Outcome, long At)>();
        foreach (var node in nodes)
        {
            int index = node.Index;
            node.Get<DagConsensus>().Finalized += (_, e) => decided.TryAdd((index, e.Decision.Id), (e.Decision.Outcome, Stopwatch.GetTimestamp()));
        }

        var warmUp = new List<VertexId>();
        for (int i = 0; i < scenario.WarmUpProposals; i++)
        {
            var proposer = nodes[sim.Random.Next(nodes.Count)];
            warmUp.Add((await proposer.Get<DagConsensus>().ProposeAsync(BitConverter.GetBytes(i), null, cancellationToken).ConfigureAwait(false)).Id);
        }
        bool WarmedUp() => warmUp.All(id => nodes.All(n => decided.ContainsKey((n.Index, id))));
        await WaitAsync(WarmedUp, scenario.Timeout, cancellationToken).ConfigureAwait(false);
        int afterWarmUp = Pairs(nodes);
        // Pairs whose connection closed since (under CPU starvation, e.g. a keep-alive pong later than its deadline)
        // are dialled again, so that the measured phase starts with every validator pair connected.
        int redialFailures = await ConnectMissingAsync(sim, nodes, cancellationToken).ConfigureAwait(false);
        scenario.Progress?.Invoke($"warm-up {(WarmedUp() ? "decided" : "NOT decided")}: {afterWarmUp} pairs connected, {Pairs(nodes)} after dialling the others again " +
            $"({redialFailures} dials failed), {Stopwatch.GetElapsedTime(setupStart).TotalSeconds:F0} s");
        double setup = Stopwatch.GetElapsedTime(setupStart).TotalSeconds;

        // Measured: all proposals at once.
        var before = await TotalsAsync(nodes, cancellationToken).ConfigureAwait(false);
        int connectionsBefore = nodes.Sum(n => n.Host.GetConnections().Count) / 2;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var plans = new List<(int Node, ConflictKey? Key, byte[] Payload)>();
        for (int c = 0; c < scenario.ConflictSets; c++)
        {
            var key = ConflictKey.FromText($"conflict-{c}");
            foreach (var proposer in sim.Pick(nodes, scenario.ProposalsPerConflict)) plans.Add((proposer.Index, key, RandomPayload(sim.Random)));
        }
        for (int v = 0; v < scenario.VirtuousProposals; v++) plans.Add((sim.Random.Next(nodes.Count), null, RandomPayload(sim.Random)));
        long start = Stopwatch.GetTimestamp();
        var proposals = await Task.WhenAll(plans.Select(async plan =>
        {
            var proposal = await nodes[plan.Node].Get<DagConsensus>().ProposeAsync(plan.Payload, plan.Key is null ? null : [plan.Key], cancellationToken)
                .ConfigureAwait(false);
            return (proposal.Vertex, plan.Key, At: Stopwatch.GetTimestamp());
        })).ConfigureAwait(false);

        bool Done()
        {
            foreach (var (vertex, key, _) in proposals)
            {
                if (key is not null) continue;
                if (!nodes.All(n => decided.ContainsKey((n.Index, vertex.Id)))) return false;
            }
            return proposals.Where(p => p.Key is not null).GroupBy(p => p.Key!).All(g =>
                nodes.All(n => g.Any(p => decided.TryGetValue((n.Index, p.Vertex.Id), out var d) && d.Outcome == VertexStatus.Accepted)));
        }
        await WaitAsync(Done, scenario.Timeout, cancellationToken, () => scenario.Progress?.Invoke(
            $"measured phase: {Stopwatch.GetElapsedTime(start).TotalSeconds:F0} s, {Pairs(nodes)} pairs connected, {decided.Count} decisions")).ConfigureAwait(false);
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        var after = await TotalsAsync(nodes, cancellationToken).ConfigureAwait(false);
        int connections = nodes.Sum(n => n.Host.GetConnections().Count) / 2;
        return Tally(scenario, nodes.Count, proposals, decided, after.Messages - before.Messages, after.Polls - before.Polls, cpu, wall, setup,
            connectionsBefore, connections, after.SendsLimited - before.SendsLimited, after.SendsFailed - before.SendsFailed,
            after.InboxDropped - before.InboxDropped);
    }

    private static DagHostScenarioResult Tally(DagHostScenarioOptions scenario, int count, (DagVertex Vertex, ConflictKey? Key, long At)[] proposals,
        ConcurrentDictionary<(int Node, VertexId Id), (VertexStatus Outcome, long At)> decided, long messages, long polls, double cpu, double wall,
        double setup, int connectionsBefore, int connections, long sendsLimited, long sendsFailed, long inboxDropped)
    {
        static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
        var violations = new List<string>();
        var undecided = new List<string>();
        var virtuous = new List<double>();
        var contested = new List<double>();
        foreach (var (vertex, key, at) in proposals.Where(p => p.Key is null))
        {
            for (int n = 0; n < count; n++)
            {
                if (decided.TryGetValue((n, vertex.Id), out var d) && d.Outcome == VertexStatus.Accepted) virtuous.Add(Ms(at, d.At));
                else undecided.Add($"{vertex.Id.ToShortString()} at node {n}");
            }
        }
        int conflicts = 0, resolved = 0;
        foreach (var group in proposals.Where(p => p.Key is not null).GroupBy(p => p.Key!))
        {
            conflicts++;
            long first = group.Min(p => p.At);
            var winners = new HashSet<VertexId>();
            bool everywhere = true;
            for (int n = 0; n < count; n++)
            {
                var accepted = group.Where(p => decided.TryGetValue((n, p.Vertex.Id), out var d) && d.Outcome == VertexStatus.Accepted).ToList();
                winners.UnionWith(accepted.Select(p => p.Vertex.Id));
                if (accepted.Count == 0)
                {
                    everywhere = false;
                    continue;
                }
                contested.Add(Ms(first, decided[(n, accepted[0].Vertex.Id)].At));
            }
            if (winners.Count > 1) violations.Add($"key '{group.Key}': {winners.Count} different vertices accepted");
            foreach (var p in group)
            {
                var outcomes = Enumerable.Range(0, count).Select(n => decided.TryGetValue((n, p.Vertex.Id), out var d) ? d.Outcome : (VertexStatus?)null)
                    .OfType<VertexStatus>().Distinct().Count();
                if (outcomes > 1) violations.Add($"vertex {p.Vertex.Id.ToShortString()} accepted at some nodes and rejected at others");
            }
            if (everywhere) resolved++;
        }
        return new DagHostScenarioResult(count, scenario.Seed, violations, undecided, conflicts, resolved, virtuous, contested, messages, polls,
            proposals.Length, cpu, wall, setup, connectionsBefore, connections, sendsLimited, sendsFailed, inboxDropped);
    }

    private static async Task<(long Messages, long Polls, long SendsLimited, long SendsFailed, long InboxDropped)> TotalsAsync(IReadOnlyList<SimulationNode> nodes,
        CancellationToken cancellationToken)
    {
        long messages = 0, polls = 0, limited = 0, failed = 0, inbox = 0;
        foreach (var node in nodes)
        {
            var status = await node.Get<DagConsensus>().GetStatusAsync(cancellationToken).ConfigureAwait(false);
            messages += status.Counters.MessagesSent;
            polls += status.Counters.PollsStarted;
            limited += status.SendsLimited;
            failed += status.SendsFailed;
            inbox += status.InboxDropped;
        }
        return (messages, polls, limited, failed, inbox);
    }

    private static async Task WaitAsync(Func<bool> done, TimeSpan timeout, CancellationToken cancellationToken, Action? every15s = null)
    {
        long start = Stopwatch.GetTimestamp(), reported = start;
        while (!done() && Stopwatch.GetElapsedTime(start) < timeout)
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            if (every15s is not null && Stopwatch.GetElapsedTime(reported) >= TimeSpan.FromSeconds(15))
            {
                reported = Stopwatch.GetTimestamp();
                every15s();
            }
        }
    }

    private static int Pairs(IReadOnlyList<SimulationNode> nodes) => nodes.Sum(n => n.Host.GetConnections().Count) / 2;

    // Node i dials every j > i it has no connection to (a few nodes at a time), 3 attempts each; returns the pairs left
    // unconnected.
    private static async Task<int> ConnectMissingAsync(Simulation sim, IReadOnlyList<SimulationNode> nodes, CancellationToken cancellationToken)
    {
        int failed = 0;
        await sim.ForEachAsync(nodes, async (node, ct) =>
        {
            foreach (var other in nodes.Where(o => o.Index > node.Index))
            {
                if (node.Host.GetConnections().Any(c => c.RemotePeer == other.PeerId)) continue;
                for (int attempt = 0; attempt < 3; attempt++)
                {
                    try
                    {
                        await sim.DialAsync(node, other, ct).ConfigureAwait(false);
                        break;
                    }
                    catch (Exception) when (!ct.IsCancellationRequested)
                    {
                        if (attempt == 2) Interlocked.Increment(ref failed);
                    }
                }
            }
        }, cancellationToken).ConfigureAwait(false);
        return failed;
    }

    private static byte[] RandomPayload(Random random)
    {
        var payload = new byte[32];
        random.NextBytes(payload);
        return payload;
    }
}
