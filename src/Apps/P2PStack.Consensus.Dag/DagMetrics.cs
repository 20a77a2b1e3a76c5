using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Consensus.Dag;

/// <summary>Instruments on the meter <see cref="MeterName"/> (Prometheus names; see docs/specs/dag.md).</summary>
internal sealed class DagMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Consensus.Dag";

    private readonly Counter<long> _decided;
    private readonly Histogram<double> _latency;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _equivocations;
    private readonly Counter<long> _dropped;

    public DagMetrics(IMeterFactory? factory, Func<DagCounters> counters, Func<(int Processing, int Pending, int Members)> gauges)
        : base(factory, MeterName)
    {
        _decided = Meter.CreateCounter<long>("p2pstack_dag_vertices_decided_total", description: "Vertices decided here, by outcome");
        _latency = Meter.CreateHistogram<double>("p2pstack_dag_finality_latency_seconds", unit: "s",
            description: "From holding a vertex here to its decision, by outcome");
        _refused = Meter.CreateCounter<long>("p2pstack_dag_refused_total", description: "Vertices and messages refused, by reason");
        _equivocations = Meter.CreateCounter<long>("p2pstack_dag_equivocations_total", description: "Equivocations detected (with proof)");
        _dropped = Meter.CreateCounter<long>("p2pstack_dag_messages_dropped_total",
            description: "DAG messages dropped before the engine or the neural mesh, by reason (inbox_full, send_limit, send_failed)");
        Meter.CreateObservableCounter("p2pstack_dag_polls_total", () => counters().PollsStarted, description: "Polls started");
        Meter.CreateObservableCounter("p2pstack_dag_polls_timed_out_total", () => counters().PollsTimedOut,
            description: "Polls that ended at their deadline with members silent");
        Meter.CreateObservableCounter("p2pstack_dag_messages_sent_total", () => counters().MessagesSent, description: "DAG messages sent");
        Meter.CreateObservableCounter("p2pstack_dag_messages_received_total", () => counters().MessagesReceived, description: "DAG messages received");
        Meter.CreateObservableGauge("p2pstack_dag_processing_vertices", () => gauges().Processing, description: "Vertices being voted on");
        Meter.CreateObservableGauge("p2pstack_dag_pending_vertices", () => gauges().Pending, description: "Vertices waiting for their parents");
        Meter.CreateObservableGauge("p2pstack_dag_members", () => gauges().Members, description: "Voters, this node included");
    }

    public void Decided(DagDecision decision)
    {
        var outcome = new KeyValuePair<string, object?>("outcome", decision.Outcome == VertexStatus.Accepted ? "accepted" : "rejected");
        _decided.Add(1, outcome);
        _latency.Record(Math.Max(0, decision.Latency.TotalSeconds), outcome);
    }

    public void Refused(DagRefusal reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason.Label()));

    public void Equivocation() => _equivocations.Add(1);

    public void Dropped(string reason) => _dropped.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
