using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Discovery.Signaling;

/// <summary>Instruments of swarm signaling (meter <c>P2PStack.Signaling</c>).</summary>
public sealed class SignalingMetrics : ModuleMetrics
{
    private readonly Counter<long> _refused;
    private readonly Counter<long> _announced;
    private readonly Counter<long> _omitted;
    private readonly ConcurrentDictionary<string, long> _refusedCounts = new(StringComparer.Ordinal);
    private long _announcedTotal;
    private long _truncatedAnswers;

    public SignalingMetrics(IMeterFactory? factory, Func<int> members, Func<int> served) : base(factory, "P2PStack.Signaling")
    {
        _refused = Meter.CreateCounter<long>("p2pstack_signaling_refused_total",
            description: "Presence announcements and host requests refused, by reason (forged, bad_signature, ttl, expired, malformed, oversized, members_limit, serve_limit, idle, stalled, ...)");
        _announced = Meter.CreateCounter<long>("p2pstack_signaling_announcements_total", description: "Presence announcements published by this node, by kind");
        _omitted = Meter.CreateCounter<long>("p2pstack_signaling_serve_members_omitted_total",
            description: "Members left out of signaling hosts' Serve answers to keep them within MaxServeAnswerSize");
        Meter.CreateObservableGauge("p2pstack_signaling_members", members, description: "Live members known in all swarms");
        Meter.CreateObservableGauge("p2pstack_signaling_served_swarms", served, description: "Swarms relayed for light peers");
    }

    internal void Refused(string reason)
    {
        _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
        _refusedCounts.AddOrUpdate(reason, 1, (_, v) => v + 1);
    }

    internal void Announced(string kind)
    {
        _announced.Add(1, new KeyValuePair<string, object?>("kind", kind));
        Interlocked.Increment(ref _announcedTotal);
    }

    internal void ServeTruncated(uint omitted)
    {
        _omitted.Add(omitted);
        Interlocked.Increment(ref _truncatedAnswers);
    }

    /// <summary>Serve answers cut at <see cref="SwarmSignalingOptions.MaxServeAnswerSize"/>.</summary>
    public long TruncatedAnswers => Interlocked.Read(ref _truncatedAnswers);

    public long RefusedCount(string reason) => _refusedCounts.GetValueOrDefault(reason);

    public long AnnouncedTotal => Interlocked.Read(ref _announcedTotal);
}
