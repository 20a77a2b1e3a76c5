using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;
using P2PStack.Network;

namespace P2PStack.Nat.AutoNat;

/// <summary>Instruments of AutoNAT on the <c>P2PStack.Nat.AutoNat</c> meter.</summary>
public sealed class AutoNatMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Nat.AutoNat";

    private readonly Counter<long> _served;
    private readonly Counter<long> _probes;
    private int _reachability;

    public AutoNatMetrics(IMeterFactory? factory = null) : base(factory, MeterName)
    {
        _served = Meter.CreateCounter<long>("p2pstack_autonat_server_requests_total", "{request}",
            "AutoNAT requests served, by version (1, 2) and result (dial_ok, dial_error, dial_back_error, refused_rate, " +
            "refused_address: none dialable or a third party's address without dial data, dial_data_refused, bad_request, relayed).");
        _probes = Meter.CreateCounter<long>("p2pstack_autonat_client_probes_total", "{probe}",
            "AutoNAT probes of our addresses, by version and result (public, private, refused, error, dial_data_refused, unverified).");
        Meter.CreateObservableGauge("p2pstack_reachability", ObserveReachability, "{state}",
            "The node's reachability as AutoNAT found it: 1 for the current state (unknown, public, private), 0 for the others.");
    }

    internal void Served(int version, string result) => _served.Add(1,
        new KeyValuePair<string, object?>("version", version), new KeyValuePair<string, object?>("result", result));

    internal void Probed(int version, string result) => _probes.Add(1,
        new KeyValuePair<string, object?>("version", version), new KeyValuePair<string, object?>("result", result));

    internal void SetReachability(Reachability reachability) => Volatile.Write(ref _reachability, (int)reachability);

    private IEnumerable<Measurement<int>> ObserveReachability()
    {
        var current = (Reachability)Volatile.Read(ref _reachability);
        foreach (var state in Enum.GetValues<Reachability>())
            yield return new Measurement<int>(state == current ? 1 : 0, new KeyValuePair<string, object?>("state", state.ToString().ToLowerInvariant()));
    }
}
