using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Nat.Dcutr;

/// <summary>Instruments of DCUtR on the <c>P2PStack.Nat.Dcutr</c> meter: rounds, results by reason, time to direct.
/// The traversal outcomes (direct, relayed, failed) and their success rate are <see cref="NatTraversalMetrics"/>.</summary>
public sealed class DcutrMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Nat.Dcutr";

    private readonly Counter<long> _attempts;
    private readonly Counter<long> _results;
    private readonly Histogram<double> _duration;

    public DcutrMetrics(IMeterFactory? factory = null) : base(factory, MeterName)
    {
        _attempts = Meter.CreateCounter<long>("p2pstack_holepunch_attempts_total", "{attempt}",
            "Hole punch rounds (CONNECT, SYNC, simultaneous dial), by role (initiator, responder).");
        _results = Meter.CreateCounter<long>("p2pstack_holepunch_results_total", "{upgrade}",
            "Relayed connections we tried to make direct, by result (success, failure) and reason (direct_dial, hole_punch, " +
            "no_addresses, no_own_addresses, dial_failed, protocol_error, timeout, not_supported, busy); counted by the initiator " +
            "(not an upgrade its caller cancelled), and by the responder only for a malformed message it received (protocol_error).");
        _duration = Meter.CreateHistogram<double>("p2pstack_holepunch_duration_seconds", "s",
            "From the start of an upgrade to the direct connection, for successful ones.");
    }

    internal void Attempt(string role) => _attempts.Add(1, new KeyValuePair<string, object?>("role", role));

    internal void Result(bool success, string reason) => _results.Add(1,
        new KeyValuePair<string, object?>("result", success ? "success" : "failure"), new KeyValuePair<string, object?>("reason", reason));

    internal void Duration(TimeSpan elapsed) => _duration.Record(elapsed.TotalSeconds);
}
