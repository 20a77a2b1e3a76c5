using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

/// <summary>
/// Counters of one mesh: kept here for <see cref="NeuralMesh.GetStats"/> and mirrored to instruments on the meter
/// <see cref="MeterName"/> (Prometheus names; see docs/specs/neural.md).
/// </summary>
internal sealed class NeuralMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Neural";

    private readonly Counter<long> _sent;
    private readonly Counter<long> _received;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _forwarded;
    private readonly Histogram<double> _latency;
    private readonly ConcurrentDictionary<string, long> _sentByType = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _receivedByType = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Type, string Reason), long> _droppedByKind = new();
    private long _forwardedTotal;
    private readonly Counter<long> _reliableAttempts;
    private readonly Counter<long> _reliableOutcomes;
    private readonly Counter<long> _reliableDuplicates;
    private long _reliableAttemptsTotal;
    private long _reliableDuplicatesTotal;
    private readonly ConcurrentDictionary<DeliveryStatus, long> _reliableByStatus = new();

    public NeuralMetrics(IMeterFactory? factory, Func<long> queuedMessages, Func<int> pendingCommands, Func<long>? replayEvictions = null,
        Func<double?>? replayWatermarkAge = null)
        : base(factory, MeterName)
    {
        _sent = Meter.CreateCounter<long>("p2pstack_neural_messages_sent_total", description: "Messages written to a stream or published to a swarm, by type");
        _received = Meter.CreateCounter<long>("p2pstack_neural_messages_received_total", description: "Messages accepted and delivered locally, by type");
        _dropped = Meter.CreateCounter<long>("p2pstack_neural_messages_dropped_total", description: "Messages dropped, by type and reason");
        _forwarded = Meter.CreateCounter<long>("p2pstack_neural_messages_forwarded_total", description: "Direct messages forwarded to another peer, by type");
        _latency = Meter.CreateHistogram<double>("p2pstack_neural_message_latency_seconds", unit: "s",
            description: "Time from a message's creation to its delivery here, by type");
        _reliableAttempts = Meter.CreateCounter<long>("p2pstack_neural_reliable_attempts_total", description: "Attempts made to deliver reliable messages (first tries and retries)");
        _reliableOutcomes = Meter.CreateCounter<long>("p2pstack_neural_reliable_messages_total", description: "Reliable messages by outcome (delivered, refused, failed)");
        _reliableDuplicates = Meter.CreateCounter<long>("p2pstack_neural_reliable_duplicates_total", description: "Reliable messages received again and acknowledged without a second delivery");
        Meter.CreateObservableGauge("p2pstack_neural_queued_messages", queuedMessages, description: "Messages waiting in the per-peer send queues");
        Meter.CreateObservableGauge("p2pstack_neural_pending_commands", pendingCommands, description: "Commands awaiting their response");
        if (replayEvictions is not null)
            Meter.CreateObservableCounter("p2pstack_neural_replay_cache_evictions_total", replayEvictions,
                description: "Replay-cache entries given up before their message expired, to make room (each raises the watermark)");
        if (replayWatermarkAge is not null)
            Meter.CreateObservableGauge("p2pstack_neural_replay_watermark_age_seconds",
                () => replayWatermarkAge() is { } age ? [new Measurement<double>(age)] : Array.Empty<Measurement<double>>(), unit: "s",
                description: "How long before now the replay cache's watermark is (messages created before it are refused as too_old); none until the cache first filled");
    }

    public void ReliableAttempt()
    {
        _reliableAttempts.Add(1);
        Interlocked.Increment(ref _reliableAttemptsTotal);
    }

    public void ReliableOutcome(DeliveryStatus status, int attempts)
    {
        _reliableOutcomes.Add(1, new KeyValuePair<string, object?>("outcome", status.ToString().ToLowerInvariant()));
        _reliableByStatus.AddOrUpdate(status, 1, (_, v) => v + 1);
    }

    public void ReliableDuplicate()
    {
        _reliableDuplicates.Add(1);
        Interlocked.Increment(ref _reliableDuplicatesTotal);
    }

    public long ReliableAttemptsTotal => Interlocked.Read(ref _reliableAttemptsTotal);

    public long ReliableDuplicatesTotal => Interlocked.Read(ref _reliableDuplicatesTotal);

    public long ReliableCount(DeliveryStatus status) => _reliableByStatus.GetValueOrDefault(status);

    public void Sent(MessageType type)
    {
        string name = NeuralMessageTypes.NameOf(type);
        _sentByType.AddOrUpdate(name, 1, (_, v) => v + 1);
        _sent.Add(1, new KeyValuePair<string, object?>("type", name));
    }

    public void Received(MessageType type, TimeSpan latency)
    {
        string name = NeuralMessageTypes.NameOf(type);
        _receivedByType.AddOrUpdate(name, 1, (_, v) => v + 1);
        var tag = new KeyValuePair<string, object?>("type", name);
        _received.Add(1, tag);
        _latency.Record(Math.Max(0, latency.TotalSeconds), tag);
    }

    public void Dropped(MessageType type, DropReason reason)
    {
        string name = NeuralMessageTypes.NameOf(type);
        string label = reason.Label();
        _droppedByKind.AddOrUpdate((name, label), 1, (_, v) => v + 1);
        _dropped.Add(1, new KeyValuePair<string, object?>("type", name), new KeyValuePair<string, object?>("reason", label));
    }

    public void Forwarded(MessageType type)
    {
        Interlocked.Increment(ref _forwardedTotal);
        _forwarded.Add(1, new KeyValuePair<string, object?>("type", NeuralMessageTypes.NameOf(type)));
    }

    public IReadOnlyDictionary<string, long> SentByType => Snapshot(_sentByType);

    public IReadOnlyDictionary<string, long> ReceivedByType => Snapshot(_receivedByType);

    /// <summary>Drops keyed "type/reason".</summary>
    public IReadOnlyDictionary<string, long> DroppedByKind =>
        _droppedByKind.ToDictionary(kv => $"{kv.Key.Type}/{kv.Key.Reason}", kv => kv.Value, StringComparer.Ordinal);

    public long ForwardedTotal => Interlocked.Read(ref _forwardedTotal);

    public long DroppedCount(DropReason reason) => _droppedByKind.Where(kv => kv.Key.Reason == reason.Label()).Sum(kv => kv.Value);

    private static Dictionary<string, long> Snapshot(ConcurrentDictionary<string, long> source) => new(source, StringComparer.Ordinal);
}
