using System.Diagnostics;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Transports.Memory;

namespace P2PStack.Simulation;

/// <summary>
/// Many real peers in one process on one <see cref="MemoryNetwork"/>: identities, topology, link conditions and churn
/// all come from one seed. The peers run the real stack end to end; only the wire is in memory. Thread scheduling is
/// not seeded, so two runs with a seed build the same network and schedule but may differ in timing-dependent details.
/// </summary>
public sealed class Simulation : IAsyncDisposable
{
    private readonly List<SimulationNode> _nodes = [];

    private Simulation(SimulationOptions options)
    {
        options.Validate();
        Options = options;
        Random = new Random(options.Seed);
        Network = new MemoryNetwork(Random.Next()) { DefaultLinkConditions = options.Links };
    }

    public SimulationOptions Options { get; }

    public MemoryNetwork Network { get; }

    /// <summary>The seeded generator of topology and schedules (use it only from the driving flow).</summary>
    public Random Random { get; }

    public IReadOnlyList<SimulationNode> Nodes => _nodes;

    public IEnumerable<SimulationNode> RunningNodes => _nodes.Where(n => n.IsRunning);

    /// <summary>Creates <paramref name="count"/> nodes with seeded Ed25519 identities; none runs yet
    /// (<see cref="StartAllAsync"/>, or <see cref="JoinDhtAsync"/> for a DHT).</summary>
    public static Simulation Create(int count, SimulationOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentNullException.ThrowIfNull(options);
        var simulation = new Simulation(options);
        var seed = new byte[32];
        for (int i = 0; i < count; i++)
        {
            simulation.Random.NextBytes(seed);
            simulation._nodes.Add(new SimulationNode(i, Ed25519PrivateKey.FromSeed(seed), simulation.Network, options));
        }
        return simulation;
    }

    /// <summary>Starts every stopped node (no connections yet).</summary>
    public Task StartAllAsync(CancellationToken cancellationToken) =>
        ForEachAsync([.. _nodes.Where(n => !n.IsRunning)], (node, ct) => node.StartAsync([], ct), cancellationToken);

    /// <summary>Dials <paramref name="degree"/> distinct running nodes chosen at random (fewer if fewer run).</summary>
    /// <returns>The dials that succeeded.</returns>
    public async Task<int> ConnectToRandomAsync(SimulationNode node, int degree, CancellationToken cancellationToken)
    {
        var candidates = RunningNodes.Where(n => n != node).ToList();
        var chosen = Pick(candidates, degree);
        int connected = 0;
        await Task.WhenAll(chosen.Select(async peer =>
        {
            try
            {
                await DialAsync(node, peer, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref connected);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // A refused or reset dial (link faults, a peer that just left) is part of the simulation.
            }
        })).ConfigureAwait(false);
        return connected;
    }

    /// <summary>Dials <paramref name="peer"/> from <paramref name="node"/> within the operation timeout.</summary>
    public async Task DialAsync(SimulationNode node, SimulationNode peer, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.OperationTimeout);
        await node.Host.DialAsync(peer.Address, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>Connects every running node to <paramref name="degree"/> random others (a random graph of average
    /// degree about 2 × <paramref name="degree"/>).</summary>
    public Task ConnectRandomGraphAsync(int degree, CancellationToken cancellationToken) =>
        ForEachAsync([.. RunningNodes], (node, ct) => ConnectToRandomAsync(node, degree, ct), cancellationToken);

    /// <summary>Stops a node (it leaves: connections close).</summary>
    public Task StopNodeAsync(SimulationNode node) => node.StopAsync();

    /// <summary>Starts a stopped node again (same identity, new address) with the given DHT bootstrap peers.</summary>
    public Task RestartNodeAsync(SimulationNode node, IReadOnlyList<Multiaddr> dhtBootstrap, CancellationToken cancellationToken) =>
        node.StartAsync(dhtBootstrap, cancellationToken);

    /// <summary>
    /// DHT join: the first node starts alone; then the others start in order, each bootstrapping from
    /// <paramref name="bootstrapCount"/> random nodes that already joined, and the harness waits for the bootstrap
    /// (self lookup and bucket refresh) — <see cref="SimulationOptions.Concurrency"/> nodes at a time.
    /// </summary>
    public async Task JoinDhtAsync(int bootstrapCount, CancellationToken cancellationToken)
    {
        if (_nodes.Any(n => n.IsRunning)) throw new InvalidOperationException("the DHT join starts the nodes itself");
        await _nodes[0].StartAsync([], cancellationToken).ConfigureAwait(false);
        var joined = new List<SimulationNode> { _nodes[0] };
        for (int start = 1; start < _nodes.Count; start += Options.Concurrency)
        {
            var batch = _nodes.Skip(start).Take(Options.Concurrency).ToList();
            var plans = batch.Select(node => (node, bootstrap: Pick(joined, bootstrapCount).Select(n => n.Address).ToList())).ToList();
            await Task.WhenAll(plans.Select(async plan =>
            {
                await plan.node.StartAsync(plan.bootstrap, cancellationToken).ConfigureAwait(false);
                await plan.node.Get<KademliaHostedService>().Bootstrap.WaitAsync(Options.OperationTimeout, cancellationToken).ConfigureAwait(false);
            })).ConfigureAwait(false);
            joined.AddRange(batch);
        }
    }

    /// <summary>Runs one routing-table refresh on every running node (what the periodic refresh does), in parallel
    /// batches.</summary>
    public Task RefreshDhtAsync(CancellationToken cancellationToken) =>
        ForEachAsync([.. RunningNodes], async (node, ct) =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(Options.OperationTimeout);
            await node.Dht.RefreshAsync(timeout.Token).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>Up to <paramref name="count"/> distinct items chosen with the simulation's generator.</summary>
    public List<T> Pick<T>(IReadOnlyList<T> items, int count)
    {
        var indexes = Enumerable.Range(0, items.Count).ToArray();
        Random.Shuffle(indexes);
        return [.. indexes.Take(Math.Min(count, items.Count)).Select(i => items[i])];
    }

    /// <summary>Runs <paramref name="work"/> on every node, <see cref="SimulationOptions.Concurrency"/> at a time.</summary>
    public async Task ForEachAsync(IReadOnlyList<SimulationNode> nodes, Func<SimulationNode, CancellationToken, Task> work,
        CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(nodes, new ParallelOptions { MaxDegreeOfParallelism = Options.Concurrency, CancellationToken = cancellationToken },
            async (node, ct) => await work(node, ct).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>Process memory in MiB after a full collection (for the cost figures).</summary>
    public static double ManagedMemoryMiB()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(true) / (1024.0 * 1024.0);
    }

    /// <summary>Elapsed time since a <see cref="Stopwatch.GetTimestamp"/>.</summary>
    internal static TimeSpan Since(long timestamp) => Stopwatch.GetElapsedTime(timestamp);

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(_nodes, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.Concurrency) },
            async (node, _) => await node.StopAsync().ConfigureAwait(false)).ConfigureAwait(false);
    }
}
