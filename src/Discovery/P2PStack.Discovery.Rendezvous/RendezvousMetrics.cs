using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Discovery.Rendezvous;

/// <summary>Instruments of the rendezvous point (meter <c>P2PStack.Rendezvous</c>).</summary>
public sealed class RendezvousMetrics : ModuleMetrics
{
    private readonly Counter<long> _requests;
    private readonly Counter<long> _refused;
    private readonly Dictionary<string, long> _refusedCounts = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public RendezvousMetrics(IMeterFactory? factory, Func<int> registrations) : base(factory, "P2PStack.Rendezvous")
    {
        _requests = Meter.CreateCounter<long>("p2pstack_rendezvous_requests_total", description: "Rendezvous requests served, by type");
        _refused = Meter.CreateCounter<long>("p2pstack_rendezvous_refused_total",
            description: "Rendezvous requests refused or streams reset, by reason (a response status or malformed)");
        Meter.CreateObservableGauge("p2pstack_rendezvous_registrations", registrations, description: "Registrations held");
    }

    internal void Request(string type) => _requests.Add(1, new KeyValuePair<string, object?>("type", type));

    internal void Refused(string reason)
    {
        _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
        lock (_gate) _refusedCounts[reason] = _refusedCounts.GetValueOrDefault(reason) + 1;
    }

    /// <summary>Refusals so far for <paramref name="reason"/> (E_INVALID_TTL, E_NOT_AUTHORIZED, ..., malformed).</summary>
    public long RefusedCount(string reason)
    {
        lock (_gate) return _refusedCounts.GetValueOrDefault(reason);
    }
}
