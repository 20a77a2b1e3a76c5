using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Nat.PortMapping;

/// <summary>Instruments of the port mapper on the <c>P2PStack.Nat.PortMapping</c> meter.</summary>
public sealed class PortMappingMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Nat.PortMapping";

    private readonly Counter<long> _mapped;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _lost;
    private readonly Counter<long> _roundErrors;
    private int _active;

    public PortMappingMetrics(IMeterFactory? factory = null) : base(factory, MeterName)
    {
        _mapped = Meter.CreateCounter<long>("p2pstack_port_mappings_created_total", "{mapping}",
            "Port mappings a gateway granted (new or renewed), by method (UPnP, PCP, NAT-PMP).");
        _failed = Meter.CreateCounter<long>("p2pstack_port_mapping_failures_total", "{attempt}",
            "Port mapping attempts that failed, by method and reason (not_found, refused, malformed, network).");
        _lost = Meter.CreateCounter<long>("p2pstack_port_mappings_lost_total", "{mapping}",
            "Port mappings lost before the node stopped, by method and reason (renewal_refused, lease_expired, gateway_gone, listener_closed).");
        _roundErrors = Meter.CreateCounter<long>("p2pstack_port_mapping_round_errors_total", "{round}",
            "Rounds of the port mapping service that failed with an error the mapper does not type; each is tried again after RetryInterval.");
        Meter.CreateObservableGauge("p2pstack_port_mappings", () => Volatile.Read(ref _active), "{mapping}",
            "Port mappings in place now.");
    }

    internal void Mapped(string method) => _mapped.Add(1, new KeyValuePair<string, object?>("method", method));

    internal void Failed(string method, string reason) =>
        _failed.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("reason", reason));

    /// <param name="reason">renewal_refused, lease_expired, gateway_gone or listener_closed.</param>
    internal void Lost(string method, string reason) =>
        _lost.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("reason", reason));

    internal void RoundFailed() => _roundErrors.Add(1);

    internal void SetActive(int count) => Volatile.Write(ref _active, count);
}
