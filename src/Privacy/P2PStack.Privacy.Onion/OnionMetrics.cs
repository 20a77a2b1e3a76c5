using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Privacy.Onion;

/// <summary>
/// The onion module's instruments on the <c>P2PStack.Onion</c> meter (docs/metrics.md), and the same figures as plain
/// numbers for <c>status --detailed</c>. Labels are enumerations (reasons, roles, directions): bounded by design.
/// </summary>
public sealed class OnionMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Onion";

    private readonly Counter<long> _builds;
    private readonly Counter<long> _buildFailures;
    private readonly Histogram<double> _buildDuration;
    private readonly Counter<long> _relayedCells;
    private readonly Counter<long> _destroys;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _descriptorsRejected;
    private readonly Counter<long> _exitStreams;
    private readonly Counter<long> _inboundConnections;
    private readonly Counter<long> _introductions;
    private readonly Counter<long> _coverCells;
    private long _coverSent;
    private long _coverDropped;
    private readonly ConcurrentDictionary<string, long> _introductionsByOutcome = new();
    private readonly ConcurrentDictionary<string, long> _exitStreamsByOutcome = new();
    private long _inboundConnectionCount;
    private long _buildTicks;
    private readonly ConcurrentDictionary<string, long> _failuresByReason = new();
    private readonly ConcurrentDictionary<string, long> _refusedByReason = new();
    private readonly ConcurrentDictionary<string, long> _destroysSent = new();
    private readonly ConcurrentDictionary<string, long> _destroysReceived = new();
    private long _relayedForward;
    private long _relayedBackward;
    private long _buildsSucceeded;
    private long _buildsFailed;
    private long _descriptorsRejectedTotal;
    private Func<int> _clientCircuits = () => 0;
    private Func<int> _relayCircuits = () => 0;
    private Func<int> _directoryRelays = () => 0;

    public OnionMetrics(IMeterFactory? factory) : base(factory, MeterName)
    {
        Meter.CreateObservableGauge("p2pstack_onion_circuits", () => new[]
        {
            new Measurement<int>(_clientCircuits(), new KeyValuePair<string, object?>("role", "client")),
            new Measurement<int>(_relayCircuits(), new KeyValuePair<string, object?>("role", "relay")),
        }, "{circuit}", "Active onion circuits: built by this node (client) and carried through it (relay).");
        Meter.CreateObservableGauge("p2pstack_onion_directory_relays", () => _directoryRelays(), "{relay}",
            "Relays with a verified, unexpired descriptor in this node's directory.");
        _builds = Meter.CreateCounter<long>("p2pstack_onion_circuit_builds_total", "{circuit}",
            "Circuit builds by outcome (ok, failed).");
        _buildFailures = Meter.CreateCounter<long>("p2pstack_onion_circuit_build_failures_total", "{failure}",
            "Failed circuit build steps by reason (timeout, connect_failed, handshake, destroyed, no_path, ...), retries included.");
        _buildDuration = Meter.CreateHistogram("p2pstack_onion_circuit_build_duration_seconds", "s",
            "Time to build a circuit, by hop count.", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _relayedCells = Meter.CreateCounter<long>("p2pstack_onion_relayed_cells_total", "{cell}",
            "Relay cells this node forwarded for others, by direction (forward: towards the exit; backward).");
        _destroys = Meter.CreateCounter<long>("p2pstack_onion_destroys_total", "{circuit}",
            "DESTROY cells by reason and side (sent, received).");
        _refused = Meter.CreateCounter<long>("p2pstack_onion_relay_refused_total", "{event}",
            "Circuits and cells a relay refused or dropped: limits, build rate, protocol violations, integrity failures.");
        _descriptorsRejected = Meter.CreateCounter<long>("p2pstack_onion_descriptors_rejected_total", "{descriptor}",
            "Relay descriptors dropped by the directory, by reason (signature, expired, malformed, cell_size, ...).");
        _exitStreams = Meter.CreateCounter<long>("p2pstack_onion_exit_streams_total", "{stream}",
            "Streams an exit was asked to open, by outcome (opened, policy, failed, limit).");
        _inboundConnections = Meter.CreateCounter<long>("p2pstack_onion_inbound_circuit_connections_total", "{connection}",
            "Connections that reached this node through a circuit (as a destination).");
        _introductions = Meter.CreateCounter<long>("p2pstack_onion_introductions_total", "{event}",
            "Introduction points: registrations (registered, registration_refused) and introductions by outcome "
            + "(forwarded, unknown, rate, limit, service_limit).");
        _coverCells = Meter.CreateCounter<long>("p2pstack_onion_cover_cells_total", "{cell}",
            "Cover cells on circuit links: sent by this node (DROP to a circuit's last hop, or back from it) and dropped "
            + "by this node (DROP cells for it and link PADDING cells), by side (sent, dropped).");
    }

    /// <summary>Cover cells this node sent on its circuits' links.</summary>
    public long CoverCellsSent => Interlocked.Read(ref _coverSent);

    /// <summary>Cover cells (DROP for this hop, link PADDING) this node received and dropped.</summary>
    public long CoverCellsDropped => Interlocked.Read(ref _coverDropped);

    internal void CoverSent()
    {
        Interlocked.Increment(ref _coverSent);
        _coverCells.Add(1, new KeyValuePair<string, object?>("side", "sent"));
    }

    internal void CoverDropped()
    {
        Interlocked.Increment(ref _coverDropped);
        _coverCells.Add(1, new KeyValuePair<string, object?>("side", "dropped"));
    }

    /// <summary>Introduction events so far by outcome (what p2pstack_onion_introductions_total counts).</summary>
    public IReadOnlyDictionary<string, long> IntroductionsByOutcome => new Dictionary<string, long>(_introductionsByOutcome);

    internal void Introduction(string outcome)
    {
        _introductionsByOutcome.AddOrUpdate(outcome, 1, (_, n) => n + 1);
        _introductions.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
    }

    public long RelayedCellsForward => Interlocked.Read(ref _relayedForward);

    public long RelayedCellsBackward => Interlocked.Read(ref _relayedBackward);

    public long BuildsSucceeded => Interlocked.Read(ref _buildsSucceeded);

    /// <summary>Mean time of the successful builds so far (what p2pstack_onion_circuit_build_duration_seconds records),
    /// zero before the first.</summary>
    public TimeSpan MeanBuildTime
    {
        get
        {
            long builds = BuildsSucceeded;
            return builds == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Interlocked.Read(ref _buildTicks) / builds);
        }
    }

    /// <summary>Streams an exit was asked to open, by outcome (what p2pstack_onion_exit_streams_total counts).</summary>
    public IReadOnlyDictionary<string, long> ExitStreamsByOutcome => _exitStreamsByOutcome.ToDictionary();

    /// <summary>Connections that reached this node through a circuit, as a destination.</summary>
    public long InboundCircuitConnections => Interlocked.Read(ref _inboundConnectionCount);

    public long BuildsFailed => Interlocked.Read(ref _buildsFailed);

    public long DescriptorsRejected => Interlocked.Read(ref _descriptorsRejectedTotal);

    /// <summary>Failed build steps by reason.</summary>
    public IReadOnlyDictionary<string, long> BuildFailuresByReason => _failuresByReason.ToDictionary();

    /// <summary>DESTROY cells this node sent, by reason.</summary>
    public IReadOnlyDictionary<string, long> DestroysSent => _destroysSent.ToDictionary();

    /// <summary>DESTROY cells this node received, by reason.</summary>
    public IReadOnlyDictionary<string, long> DestroysReceived => _destroysReceived.ToDictionary();

    /// <summary>Relay refusals by reason.</summary>
    public IReadOnlyDictionary<string, long> RelayRefusalsByReason => _refusedByReason.ToDictionary();

    internal void Observe(Func<int> clientCircuits, Func<int> relayCircuits, Func<int> directoryRelays)
    {
        _clientCircuits = clientCircuits;
        _relayCircuits = relayCircuits;
        _directoryRelays = directoryRelays;
    }

    internal void ObserveClient(Func<int> clientCircuits) => _clientCircuits = clientCircuits;

    internal void ObserveRelay(Func<int> relayCircuits) => _relayCircuits = relayCircuits;

    internal void ObserveDirectory(Func<int> directoryRelays) => _directoryRelays = directoryRelays;

    internal void BuildSucceeded(int hops, TimeSpan duration)
    {
        Interlocked.Add(ref _buildTicks, duration.Ticks);
        Interlocked.Increment(ref _buildsSucceeded);
        _builds.Add(1, new KeyValuePair<string, object?>("result", "ok"));
        _buildDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("hops", hops));
    }

    internal void BuildFailed()
    {
        Interlocked.Increment(ref _buildsFailed);
        _builds.Add(1, new KeyValuePair<string, object?>("result", "failed"));
    }

    internal void BuildStepFailed(string reason)
    {
        _failuresByReason.AddOrUpdate(reason, 1, (_, n) => n + 1);
        _buildFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    internal void Relayed(bool forward, int cells)
    {
        if (cells == 0) return;
        if (forward) Interlocked.Add(ref _relayedForward, cells);
        else Interlocked.Add(ref _relayedBackward, cells);
        _relayedCells.Add(cells, new KeyValuePair<string, object?>("direction", forward ? "forward" : "backward"));
    }

    internal void Destroy(DestroyReason reason, bool sent)
    {
        (sent ? _destroysSent : _destroysReceived).AddOrUpdate(Label(reason), 1, (_, n) => n + 1);
        _destroys.Add(1, new KeyValuePair<string, object?>("reason", Label(reason)), new KeyValuePair<string, object?>("side", sent ? "sent" : "received"));
    }

    internal void Refused(string reason)
    {
        _refusedByReason.AddOrUpdate(reason, 1, (_, n) => n + 1);
        _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    internal void DescriptorRejected(string reason)
    {
        Interlocked.Increment(ref _descriptorsRejectedTotal);
        _descriptorsRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }

    internal void ExitStream(string outcome)
    {
        _exitStreamsByOutcome.AddOrUpdate(outcome, 1, (_, n) => n + 1);
        _exitStreams.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
    }

    internal void InboundConnection()
    {
        Interlocked.Increment(ref _inboundConnectionCount);
        _inboundConnections.Add(1);
    }

    /// <summary>The label of a destroy reason: snake case of its name.</summary>
    public static string Label(DestroyReason reason) => reason switch
    {
        DestroyReason.None => "none",
        DestroyReason.Protocol => "protocol",
        DestroyReason.Internal => "internal",
        DestroyReason.Requested => "requested",
        DestroyReason.ResourceLimit => "resource_limit",
        DestroyReason.ConnectFailed => "connect_failed",
        DestroyReason.UnknownOnionKey => "unknown_onion_key",
        DestroyReason.LinkClosed => "link_closed",
        DestroyReason.Finished => "finished",
        DestroyReason.Timeout => "timeout",
        DestroyReason.Destroyed => "destroyed",
        DestroyReason.Integrity => "integrity",
        DestroyReason.Hibernating => "hibernating",
        _ => "unknown",
    };
}
