using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Nat.Stun;

/// <summary>Instruments of the STUN client and server on the <c>P2PStack.Nat.Stun</c> meter.</summary>
public sealed class StunMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Nat.Stun";

    private readonly Counter<long> _transactions;
    private readonly Counter<long> _timeouts;
    private readonly Counter<long> _malformed;
    private readonly Counter<long> _served;
    private readonly Counter<long> _refused;

    public StunMetrics(IMeterFactory? factory = null) : base(factory, MeterName)
    {
        _transactions = Meter.CreateCounter<long>("p2pstack_stun_transactions_total", "{transaction}",
            "STUN Binding transactions started by the client.");
        _timeouts = Meter.CreateCounter<long>("p2pstack_stun_timeouts_total", "{transaction}",
            "STUN Binding transactions that got no answer after every retransmission.");
        _malformed = Meter.CreateCounter<long>("p2pstack_stun_malformed_total", "{message}",
            "STUN datagrams refused as malformed, by role (client: answers; server: requests).");
        _served = Meter.CreateCounter<long>("p2pstack_stun_server_responses_total", "{response}",
            "Responses sent by the STUN server, by result (success, error).");
        _refused = Meter.CreateCounter<long>("p2pstack_stun_server_refused_total", "{request}",
            "Requests the STUN server dropped without answer, by reason (rate_limited, not_binding, sources_full).");
    }

    internal void Transaction() => _transactions.Add(1);

    internal void Timeout() => _timeouts.Add(1);

    internal void Malformed(string role = "client") => _malformed.Add(1, new KeyValuePair<string, object?>("role", role));

    internal void Served(string result) => _served.Add(1, new KeyValuePair<string, object?>("result", result));

    internal void Refused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
