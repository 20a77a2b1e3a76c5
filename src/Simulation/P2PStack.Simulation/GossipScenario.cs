using System.Buffers.Binary;
using System.Diagnostics;
using P2PStack.Protocols.GossipSub;

namespace P2PStack.Simulation;

/// <summary>Settings of <see cref="GossipScenario"/>.</summary>
public sealed class GossipScenarioOptions
{
    public int NodeCount { get; set; } = 100;

    /// <summary>Random nodes each node dials at the start (and a rejoining node dials again).</summary>
    public int Degree { get; set; } = 6;

    public string Topic { get; set; } = "simulation";

    public int Messages { get; set; } = 50;

    /// <summary>Honest nodes that publish, in turn.</summary>
    public int Publishers { get; set; } = 10;

    public TimeSpan PublishInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Message payload size (at least 4: the message index).</summary>
    public int PayloadBytes { get; set; } = 128;

    /// <summary>Time for meshes to form before the first publish.</summary>
    public TimeSpan WarmUp { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A node counts a message as expected when it runs from the publish to this long after it; the
    /// scenario waits this long after the last publish (less with <see cref="EndWhenDelivered"/>).</summary>
    public TimeSpan DeliveryWindow { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Ends the wait after the last publish as soon as every expected message has arrived, instead of
    /// waiting out the whole <see cref="DeliveryWindow"/>: the delivery figures are the same (nothing expected is
    /// left to arrive), and a wide window costs nothing when delivery is quick. The figures read at the end
    /// (duplicates, mesh shares, scores) then describe the moment delivery completed rather than the end of a quiet
    /// window.</summary>
    public bool EndWhenDelivered { get; set; }

    /// <summary>Fraction of nodes (never publishers or attackers) that leave once and rejoin while messages are
    /// published.</summary>
    public double ChurnFraction { get; set; }

    public TimeSpan MinDowntime { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxDowntime { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Messages published this soon after a churned node came back are not expected at it: it rejoins the
    /// topic's mesh only at its peers' next heartbeats. Zero counts every message published after its return.</summary>
    public TimeSpan RejoinGrace { get; set; } = TimeSpan.Zero;

    /// <summary>Fraction of nodes that join the topic's mesh but never forward (nor deliver) a message.</summary>
    public double AttackerFraction { get; set; }

    /// <summary>Topic score parameters for the topic (P1-P3b), so that peers that do not deliver lose score;
    /// null leaves the topic unscored (global parameters only).</summary>
    public TopicScoreParams? TopicScore { get; set; }

    /// <summary>Further gossipsub settings of every node.</summary>
    public Action<GossipSubOptions>? GossipSub { get; set; }

    /// <summary>A P3 activation for <see cref="DeliveryScoring"/>: the warm-up (mesh peers grafted at the start wait
    /// through it with nothing to deliver) plus the time of ten publishes, at least 2 s, so that every honest mesh peer
    /// has had messages to deliver before its delivery rate counts.</summary>
    public TimeSpan DeliveryScoringActivation =>
        WarmUp + TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(2).Ticks, 10 * PublishInterval.Ticks));

    /// <summary>Topic score parameters under which mesh peers that deliver nothing go negative as soon as P3 activates
    /// (P3 threshold 1 delivery, weight -10), while honest mesh peers stay at or above zero. The delivery counter
    /// decays by 0.9 a second (half-life 6.6 s), so a peer that delivered a few messages stays above the threshold
    /// through the quiet delivery window at the end of a run (P3 presumes a steady message rate: a topic quiet for
    /// longer than the counter's memory puts every mesh peer below the threshold). The failure penalty P3b of a
    /// pruned non-forwarder decays by 0.97 a second (half-life 23 s): sticky for the length of a run. The near-first
    /// window is wide (2 s) so that honest mesh peers' copies count on a loaded machine too; the spec's tight window
    /// guards against peers that copy late, which this scenario does not model.</summary>
    /// <param name="activation">Time in the mesh before P3 counts: longer than the warm-up (the quiet time between
    /// the grafts and the first publish) plus a few messages, or honest mesh peers are penalised for messages nobody
    /// sent them (see <see cref="DeliveryScoringActivation"/>).</param>
    /// <param name="deliveryWindow">How long after a message's first arrival a mesh peer's copy still counts for P3
    /// (2 s unless given): when copies take longer than this (an overloaded process), honest mesh peers are penalised
    /// as well.</param>
    public static TopicScoreParams DeliveryScoring(TimeSpan activation, TimeSpan? deliveryWindow = null) => new()
    {
        TopicWeight = 1,
        TimeInMeshWeight = 0.01,
        TimeInMeshQuantum = TimeSpan.FromSeconds(1),
        TimeInMeshCap = 100,
        FirstMessageDeliveriesWeight = 1,
        FirstMessageDeliveriesDecay = 0.5,
        FirstMessageDeliveriesCap = 50,
        MeshMessageDeliveriesWeight = -10,
        MeshMessageDeliveriesDecay = 0.9,
        MeshMessageDeliveriesCap = 20,
        MeshMessageDeliveriesThreshold = 1,
        MeshMessageDeliveriesWindow = deliveryWindow ?? TimeSpan.FromSeconds(2),
        MeshMessageDeliveriesActivation = activation,
        MeshFailurePenaltyWeight = -10,
        MeshFailurePenaltyDecay = 0.97,
        InvalidMessageDeliveriesWeight = -100,
        InvalidMessageDeliveriesDecay = 0.3,
    };
}

/// <summary>Figures of a gossipsub run.</summary>
/// <param name="Expected">(message, node) pairs that should have been delivered: honest receivers running from the
/// publish until the delivery window ended.</param>
/// <param name="Delivered">Of those, the ones that were.</param>
/// <param name="LatenciesMs">Publish-to-delivery time of every delivered expected pair, in ms.</param>
/// <param name="FirstReceived">Messages nodes received from peers for the first time (all nodes, all generations).</param>
/// <param name="Duplicates">Copies received after the first.</param>
/// <param name="AttackerScores">At the end, the score every running honest node gives each connected attacker.</param>
/// <param name="HonestScores">At the end, the score every running honest node gives each connected honest peer.</param>
public sealed record GossipScenarioResult(int NodeCount, int Seed, int Messages, long Expected, long Delivered, IReadOnlyList<double> LatenciesMs,
    long FirstReceived, long Duplicates, int Churned, int Attackers, double AttackerMeshShare, IReadOnlyList<double> AttackerScores,
    IReadOnlyList<double> HonestScores, double ManagedMemoryMiB)
{
    public double DeliveryRate => Expected == 0 ? 0 : Delivered / (double)Expected;

    /// <summary>Duplicates per first receipt.</summary>
    public double DuplicateOverhead => FirstReceived == 0 ? 0 : Duplicates / (double)FirstReceived;

    public double MeanAttackerScore => Statistics.Mean(AttackerScores);

    public double MeanHonestScore => Statistics.Mean(HonestScores);

    /// <summary>Share of the honest peers' scores (at honest nodes) that are below zero.</summary>
    public double NegativeHonestShare => HonestScores.Count == 0 ? 0 : HonestScores.Count(s => s < 0) / (double)HonestScores.Count;

    public override string ToString() =>
        $"GossipSub N={NodeCount} seed={Seed} messages={Messages}: delivery {DeliveryRate:P3} ({Delivered}/{Expected}); " +
        $"latency p50 {Statistics.Percentile(LatenciesMs, 50):F1} ms p99 {Statistics.Percentile(LatenciesMs, 99):F1} ms max {LatenciesMs.DefaultIfEmpty().Max():F1} ms; " +
        $"duplicates {Duplicates} per {FirstReceived} first receipts ({DuplicateOverhead:F2}x); churned {Churned}; attackers {Attackers}" +
        (Attackers > 0 ? $" (share of honest mesh slots {AttackerMeshShare:P1}, mean attacker score at honest nodes {MeanAttackerScore:F2})" : "") +
        $"; honest peers' scores at honest nodes: min {HonestScores.DefaultIfEmpty().Min():F2} median {Statistics.Percentile(HonestScores, 50):F2} " +
        $"mean {MeanHonestScore:F2}, {NegativeHonestShare:P1} below zero ({HonestScores.Count} scores); managed heap {ManagedMemoryMiB:F0} MiB";
}

/// <summary>Mesh share of attackers and the scores honest nodes give attackers and honest peers.</summary>
internal sealed record ScoreSnapshot(double AttackerMeshShare, List<double> AttackerScores, List<double> HonestScores);

/// <summary>
/// Gossipsub on real hosts: every node subscribes to one topic and dials a few random others; honest publishers
/// publish in turn at a fixed interval while, optionally, some nodes leave and rejoin and some (attackers) never
/// forward. Measures delivery to honest nodes, latency, duplicates and, with attackers, how scoring treats them.
/// </summary>
public static class GossipScenario
{
    public static async Task<GossipScenarioResult> RunAsync(GossipScenarioOptions scenario, SimulationOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(scenario.PayloadBytes, 4);
        options.GossipSub = o =>
        {
            scenario.GossipSub?.Invoke(o);
            if (scenario.TopicScore is { } topicScore) o.ScoreParams.Topics[scenario.Topic] = topicScore;
        };
        await using var simulation = Simulation.Create(scenario.NodeCount, options);
        var run = new Run(simulation, scenario);
        await simulation.StartAllAsync(cancellationToken).ConfigureAwait(false);
        return await run.ExecuteAsync(cancellationToken).ConfigureAwait(false);
    }

    private sealed class Run(Simulation simulation, GossipScenarioOptions scenario)
    {
        private readonly long[,] _receivedAt = new long[scenario.Messages, scenario.NodeCount];
        private readonly long[] _publishedAt = new long[scenario.Messages];
        private readonly List<(long From, long To)>[] _offline = [.. Enumerable.Range(0, scenario.NodeCount).Select(_ => new List<(long, long)>())];
        private readonly List<Task> _readers = [];
        private readonly HashSet<int> _attackers = [];
        private long _first;
        private long _duplicates;

        public async Task<GossipScenarioResult> ExecuteAsync(CancellationToken cancellationToken)
        {
            var nodes = simulation.Nodes;
            foreach (var attacker in simulation.Pick(nodes, (int)Math.Round(scenario.AttackerFraction * nodes.Count))) _attackers.Add(attacker.Index);
            var honest = nodes.Where(n => !_attackers.Contains(n.Index)).ToList();
            var publishers = simulation.Pick(honest, scenario.Publishers);
            var churnable = honest.Except(publishers).ToList();
            var churned = simulation.Pick(churnable, (int)Math.Round(scenario.ChurnFraction * nodes.Count));

            // Connect first, then join: every mesh link is grafted after the joins, so the warm-up (not the time the
            // connections take, which grows with load) is the quiet time a mesh peer spends before publishing starts.
            // Scoring's P3 activation is counted from the graft and must outlast that quiet time.
            await simulation.ConnectRandomGraphAsync(scenario.Degree, cancellationToken).ConfigureAwait(false);
            foreach (var node in nodes) await JoinTopicAsync(node, cancellationToken).ConfigureAwait(false);
            await Task.Delay(scenario.WarmUp, cancellationToken).ConfigureAwait(false);

            var publishing = scenario.PublishInterval * scenario.Messages;
            var plans = churned.Select(node => (node,
                leaveAfter: publishing * 0.8 * simulation.Random.NextDouble(),
                downtime: scenario.MinDowntime + (scenario.MaxDowntime - scenario.MinDowntime) * simulation.Random.NextDouble())).ToList();
            long start = Stopwatch.GetTimestamp();
            var churn = plans.Select(p => ChurnAsync(p.node, start, p.leaveAfter, p.downtime, cancellationToken)).ToList();

            var payload = new byte[scenario.PayloadBytes];
            for (int m = 0; m < scenario.Messages; m++)
            {
                var due = scenario.PublishInterval * m - Stopwatch.GetElapsedTime(start);
                if (due > TimeSpan.Zero) await Task.Delay(due, cancellationToken).ConfigureAwait(false);
                BinaryPrimitives.WriteInt32BigEndian(payload, m);
                var publisher = publishers[m % publishers.Count];
                _publishedAt[m] = Stopwatch.GetTimestamp();
                await publisher.PubSub.PublishAsync(scenario.Topic, payload, cancellationToken).ConfigureAwait(false);
            }
            await Task.WhenAll(churn).ConfigureAwait(false);
            await WaitForDeliveriesAsync(publishers, cancellationToken).ConfigureAwait(false);

            var scores = TakeScores(honest);
            foreach (var node in nodes.Where(n => n.IsRunning)) AddCounts(node);
            return Tally(publishers, churned.Count, scores);
        }

        // After the last publish (and every churned node's return, so every offline period is known): the delivery
        // window, or with EndWhenDelivered until no expected message is missing, whichever comes first.
        private async Task WaitForDeliveriesAsync(List<SimulationNode> publishers, CancellationToken cancellationToken)
        {
            if (!scenario.EndWhenDelivered)
            {
                await Task.Delay(scenario.DeliveryWindow, cancellationToken).ConfigureAwait(false);
                return;
            }
            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start) < scenario.DeliveryWindow)
            {
                var (expected, delivered) = Count(publishers);
                if (delivered == expected) return;
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
            }
        }

        private async Task JoinTopicAsync(SimulationNode node, CancellationToken cancellationToken)
        {
            var pubsub = node.PubSub;
            if (_attackers.Contains(node.Index))
            {
                // Never forwards: every message is "ignored" by validation, so it is neither delivered nor relayed,
                // and without penalty to the sender. The node still subscribes and accepts grafts.
                pubsub.RegisterValidator(scenario.Topic, _ => ValidationResult.Ignore);
            }
            var subscription = await pubsub.SubscribeAsync(scenario.Topic, cancellationToken).ConfigureAwait(false);
            if (_attackers.Contains(node.Index)) return;
            int index = node.Index;
            _readers.Add(Task.Run(async () =>
            {
                await foreach (var message in subscription.Reader.ReadAllAsync().ConfigureAwait(false))
                {
                    long now = Stopwatch.GetTimestamp();
                    if (message.Data.Length < 4) continue;
                    int m = BinaryPrimitives.ReadInt32BigEndian(message.Data.Span);
                    if (m >= 0 && m < scenario.Messages) Interlocked.CompareExchange(ref _receivedAt[m, index], now, 0);
                }
            }, CancellationToken.None));
        }

        private async Task ChurnAsync(SimulationNode node, long start, TimeSpan leaveAfter, TimeSpan downtime, CancellationToken cancellationToken)
        {
            var wait = leaveAfter - Stopwatch.GetElapsedTime(start);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            long down = Stopwatch.GetTimestamp();
            AddCounts(node);
            await simulation.StopNodeAsync(node).ConfigureAwait(false);
            await Task.Delay(downtime, cancellationToken).ConfigureAwait(false);
            await simulation.RestartNodeAsync(node, [], cancellationToken).ConfigureAwait(false);
            await JoinTopicAsync(node, cancellationToken).ConfigureAwait(false);
            await simulation.ConnectToRandomAsync(node, scenario.Degree, cancellationToken).ConfigureAwait(false);
            lock (_offline[node.Index]) _offline[node.Index].Add((down, Stopwatch.GetTimestamp()));
        }

        private void AddCounts(SimulationNode node)
        {
            var (first, duplicates) = node.PubSub.GetReceivedCounts();
            Interlocked.Add(ref _first, first);
            Interlocked.Add(ref _duplicates, duplicates);
        }

        // At the end: the share of honest nodes' mesh slots held by attackers, and the scores honest nodes give
        // attackers and honest peers.
        private ScoreSnapshot TakeScores(List<SimulationNode> honest)
        {
            var attackerIds = simulation.Nodes.Where(n => _attackers.Contains(n.Index)).Select(n => n.PeerId).ToHashSet();
            int slots = 0, attackerSlots = 0;
            var attackerScores = new List<double>();
            var honestScores = new List<double>();
            foreach (var node in honest.Where(n => n.IsRunning))
            {
                var mesh = node.PubSub.GetMeshPeers(scenario.Topic);
                slots += mesh.Count;
                attackerSlots += mesh.Count(attackerIds.Contains);
                foreach (var (peer, score) in node.PubSub.GetScores()) (attackerIds.Contains(peer) ? attackerScores : honestScores).Add(score);
            }
            return new ScoreSnapshot(slots == 0 ? 0 : attackerSlots / (double)slots, attackerScores, honestScores);
        }

        private GossipScenarioResult Tally(List<SimulationNode> publishers, int churned, ScoreSnapshot scores)
        {
            var latencies = new List<double>();
            var (expected, delivered) = Count(publishers, latencies);
            return new GossipScenarioResult(scenario.NodeCount, simulation.Options.Seed, scenario.Messages, expected, delivered, latencies,
                Interlocked.Read(ref _first), Interlocked.Read(ref _duplicates), churned, _attackers.Count, scores.AttackerMeshShare,
                scores.AttackerScores, scores.HonestScores, Simulation.ManagedMemoryMiB());
        }

        // The expected (message, node) pairs and how many of them arrived so far, with each arrival's latency.
        private (long Expected, long Delivered) Count(List<SimulationNode> publishers, List<double>? latencies = null)
        {
            long window = (long)(scenario.DeliveryWindow.TotalSeconds * Stopwatch.Frequency);
            long grace = (long)(scenario.RejoinGrace.TotalSeconds * Stopwatch.Frequency);
            long expected = 0, delivered = 0;
            for (int m = 0; m < scenario.Messages; m++)
            {
                long published = _publishedAt[m];
                var publisher = publishers[m % publishers.Count].Index;
                for (int n = 0; n < scenario.NodeCount; n++)
                {
                    if (n == publisher || _attackers.Contains(n)) continue;
                    if (_offline[n].Any(o => o.From < published + window && o.To + grace > published)) continue;
                    expected++;
                    long at = Interlocked.Read(ref _receivedAt[m, n]);
                    if (at == 0) continue;
                    delivered++;
                    latencies?.Add((at - published) * 1000.0 / Stopwatch.Frequency);
                }
            }
            return (expected, delivered);
        }
    }
}
