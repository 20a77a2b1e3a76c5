using System.Diagnostics;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Simulation;

/// <summary>What the DHT nodes run on.</summary>
public enum DhtStack
{
    /// <summary>Full hosts: memory transport, Noise, Yamux, multistream-select, Identify, the DHT protocol on streams.</summary>
    Hosts,
    /// <summary>The DHT nodes only, messages serialised through <see cref="InProcessDht"/> (no connection stack).</summary>
    InProcess,
}

/// <summary>Settings of <see cref="DhtScenario"/>.</summary>
public sealed class DhtScenarioOptions
{
    public DhtStack Stack { get; set; } = DhtStack.Hosts;

    public int NodeCount { get; set; } = 100;

    /// <summary>Nodes that already joined each new node bootstraps from.</summary>
    public int BootstrapPeers { get; set; } = 3;

    /// <summary>Routing-table refreshes every node runs after all joined (what the periodic refresh does).</summary>
    public int RefreshRounds { get; set; } = 1;

    /// <summary>Lookups measured (random source, random other node as target).</summary>
    public int Lookups { get; set; } = 100;

    /// <summary>Lookups running at once.</summary>
    public int LookupConcurrency { get; set; } = 4;

    /// <summary>DHT settings of every node (k, α, β, timeouts); the periodic refresh is turned off by the scenario.</summary>
    public Action<KademliaOptions>? Kademlia { get; set; }
}

/// <summary>One measured lookup.</summary>
/// <param name="Found">The target was the closest peer the lookup returned.</param>
/// <param name="Hops">Depth at which the target was first named (0: it was in the source's table); null if never.</param>
/// <param name="Requests">Requests the whole lookup sent (one request and one response message each).</param>
/// <param name="RequestsUntilTarget">Requests sent when the target was first named.</param>
public sealed record DhtLookupSample(bool Found, int? Hops, int Requests, int? RequestsUntilTarget, int Failures, TimeSpan Elapsed);

/// <summary>Figures of a DHT run.</summary>
public sealed record DhtScenarioResult(DhtStack Stack, int NodeCount, int Seed, IReadOnlyList<DhtLookupSample> Lookups, double MeanRoutingTableSize,
    TimeSpan JoinTime, TimeSpan RefreshTime, TimeSpan LookupTime, double ManagedMemoryMiB)
{
    public double Log2N => Math.Log2(NodeCount);

    public double SuccessRate => Lookups.Count == 0 ? 0 : Lookups.Count(l => l.Found) / (double)Lookups.Count;

    public IReadOnlyList<double> Hops => [.. Lookups.Where(l => l.Hops is not null).Select(l => (double)l.Hops!.Value)];

    public IReadOnlyList<double> Requests => [.. Lookups.Select(l => (double)l.Requests)];

    public IReadOnlyList<double> RequestsUntilTarget => [.. Lookups.Where(l => l.RequestsUntilTarget is not null).Select(l => (double)l.RequestsUntilTarget!.Value)];

    public override string ToString() =>
        $"DHT ({Stack}) N={NodeCount} seed={Seed}: success {SuccessRate:P2} ({Lookups.Count(l => l.Found)}/{Lookups.Count}); " +
        $"hops mean {Statistics.Mean(Hops):F2} p50 {Statistics.Percentile(Hops, 50)} p99 {Statistics.Percentile(Hops, 99)} max {Hops.DefaultIfEmpty().Max()} (log2 N = {Log2N:F2}); " +
        $"requests/lookup mean {Statistics.Mean(Requests):F1} p50 {Statistics.Percentile(Requests, 50)} p99 {Statistics.Percentile(Requests, 99)}; " +
        $"requests until target named mean {Statistics.Mean(RequestsUntilTarget):F1}; failed requests {Lookups.Sum(l => l.Failures)}; " +
        $"routing table mean {MeanRoutingTableSize:F1}; join {JoinTime.TotalSeconds:F1} s, refresh {RefreshTime.TotalSeconds:F1} s, lookups {LookupTime.TotalSeconds:F1} s; managed heap {ManagedMemoryMiB:F0} MiB";
}

/// <summary>
/// Builds a DHT of real hosts (each joins through a few earlier nodes, then all refresh once) and measures FIND_NODE
/// lookups of random node ids from random nodes: success (the target is the closest peer returned), hops, requests.
/// </summary>
public static class DhtScenario
{
    public static async Task<DhtScenarioResult> RunAsync(DhtScenarioOptions scenario, SimulationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        var configure = scenario.Kademlia;
        Action<KademliaOptions> kademlia = o =>
        {
            configure?.Invoke(o);
            o.RefreshInterval = TimeSpan.Zero; // refreshes are run by the harness, all at the same point
        };
        if (scenario.Stack == DhtStack.InProcess) return await RunInProcessAsync(scenario, options, kademlia, cancellationToken).ConfigureAwait(false);
        options.Kademlia = kademlia;
        await using var simulation = Simulation.Create(scenario.NodeCount, options);

        long started = Stopwatch.GetTimestamp();
        await simulation.JoinDhtAsync(scenario.BootstrapPeers, cancellationToken).ConfigureAwait(false);
        var joinTime = Simulation.Since(started);

        started = Stopwatch.GetTimestamp();
        for (int round = 0; round < scenario.RefreshRounds; round++) await simulation.RefreshDhtAsync(cancellationToken).ConfigureAwait(false);
        var refreshTime = Simulation.Since(started);

        var nodes = simulation.Nodes.Select(n => (n.Dht, n.PeerId)).ToList();
        started = Stopwatch.GetTimestamp();
        var samples = await MeasureLookupsAsync(nodes, scenario, simulation.Random, options.OperationTimeout, cancellationToken).ConfigureAwait(false);
        var lookupTime = Simulation.Since(started);
        return new DhtScenarioResult(DhtStack.Hosts, scenario.NodeCount, options.Seed, samples, nodes.Average(n => n.Dht.RoutingTable.Count),
            joinTime, refreshTime, lookupTime, Simulation.ManagedMemoryMiB());
    }

    private static async Task<DhtScenarioResult> RunInProcessAsync(DhtScenarioOptions scenario, SimulationOptions options,
        Action<KademliaOptions> kademlia, CancellationToken cancellationToken)
    {
        var random = new Random(options.Seed);
        await using var dht = new InProcessDht(options.Links.Latency);
        var nodes = new List<(KademliaDht Dht, PeerId PeerId)>();
        var seed = new byte[32];
        long started = Stopwatch.GetTimestamp();
        for (int i = 0; i < scenario.NodeCount; i++)
        {
            random.NextBytes(seed);
            var peer = PeerId.FromPublicKey(Identity.Ed25519PrivateKey.FromSeed(seed).PublicKey);
            var nodeOptions = new KademliaOptions();
            kademlia(nodeOptions);
            foreach (int b in Pick(random, nodes.Count, scenario.BootstrapPeers)) nodeOptions.BootstrapPeers.Add(dht.AddressOf(nodes[b].PeerId));
            nodes.Add((dht.Add(peer, (ulong)i + 1, nodeOptions), peer));
        }
        // Join in order, a batch at a time: each node bootstraps from nodes added before it.
        for (int start = 1; start < nodes.Count; start += options.Concurrency)
        {
            await Task.WhenAll(nodes.Skip(start).Take(options.Concurrency).Select(async n =>
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                limit.CancelAfter(options.OperationTimeout);
                await n.Dht.BootstrapAsync(limit.Token).ConfigureAwait(false);
            })).ConfigureAwait(false);
        }
        var joinTime = Simulation.Since(started);

        started = Stopwatch.GetTimestamp();
        for (int round = 0; round < scenario.RefreshRounds; round++)
        {
            await Parallel.ForEachAsync(nodes, new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken },
                async (n, ct) => await n.Dht.RefreshAsync(ct).ConfigureAwait(false)).ConfigureAwait(false);
        }
        var refreshTime = Simulation.Since(started);

        started = Stopwatch.GetTimestamp();
        var samples = await MeasureLookupsAsync(nodes, scenario, random, options.OperationTimeout, cancellationToken).ConfigureAwait(false);
        var lookupTime = Simulation.Since(started);
        return new DhtScenarioResult(DhtStack.InProcess, scenario.NodeCount, options.Seed, samples, nodes.Average(n => n.Dht.RoutingTable.Count),
            joinTime, refreshTime, lookupTime, Simulation.ManagedMemoryMiB());
    }

    private static IEnumerable<int> Pick(Random random, int count, int take)
    {
        var indexes = Enumerable.Range(0, count).ToArray();
        random.Shuffle(indexes);
        return indexes.Take(Math.Min(take, count));
    }

    private static async Task<DhtLookupSample[]> MeasureLookupsAsync(List<(KademliaDht Dht, PeerId PeerId)> nodes, DhtScenarioOptions scenario,
        Random random, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var pairs = Enumerable.Range(0, scenario.Lookups).Select(_ =>
        {
            int source = random.Next(nodes.Count);
            int target = (source + 1 + random.Next(nodes.Count - 1)) % nodes.Count;
            return (source: nodes[source].Dht, target: nodes[target].PeerId);
        }).ToList();
        var samples = new DhtLookupSample[pairs.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, pairs.Count),
            new ParallelOptions { MaxDegreeOfParallelism = scenario.LookupConcurrency, CancellationToken = cancellationToken },
            async (i, ct) => samples[i] = await LookupAsync(pairs[i].source, pairs[i].target, timeout, ct).ConfigureAwait(false))
            .ConfigureAwait(false);
        return samples;
    }

    private static async Task<DhtLookupSample> LookupAsync(KademliaDht source, PeerId target, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var trace = new LookupTrace(target);
        bool inTable = source.RoutingTable.Contains(target);
        long started = Stopwatch.GetTimestamp();
        bool found;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        TracingKadNetwork.Current.Value = trace;
        try
        {
            var closest = await source.GetClosestPeersAsync(target.Bytes, limit.Token).ConfigureAwait(false);
            found = closest.Count > 0 && closest[0] == target;
        }
        catch (Exception e) when (e is DhtNoPeersException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            found = false;
        }
        finally
        {
            TracingKadNetwork.Current.Value = null;
        }
        int? hops = inTable ? 0 : trace.HopsToTarget;
        int? until = inTable ? 0 : trace.RequestsUntilTarget;
        return new DhtLookupSample(found, hops, trace.Requests, until, trace.Failures, Simulation.Since(started));
    }
}
