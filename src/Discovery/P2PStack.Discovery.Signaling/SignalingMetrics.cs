using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Discovery.Signaling;

/// <summary>Instruments of swarm signaling (meter <c>P2PStack.Signaling</c>).</summary>
public sealed class SignalingMetrics : ModuleMetrics
{
    private readonly Counter<long> _refused;
    private readonly Counter<long> _announced;
    private readonly ConcurrentDictionary<string, long> _refusedCounts = new(StringComparer.Ordinal);
    private long _announcedTotal;

    public SignalingMetrics(IMeterFactory? factory, Func<int> members, Func<int> served) : base(factory, "P2PStack.Signaling")
    {
        _refused = Meter.CreateCounter<long>("p2pstack_signaling_refused_total",
            description: "Presence announcements and host requests refused, by reason (forged, bad_signature, ttl, expired, malformed, oversized, members_limit, serve_limit, idle, ...)");
        _announced = Meter.CreateCounter<long>("p2pstack_signaling_announcements_total", description: "Presence announcements published by this node, by kind");
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

    public long RefusedCount(string reason) => _refusedCounts.GetValueOrDefault(reason);

    public long AnnouncedTotal => Interlocked.Read(ref _announcedTotal);
}
