using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Nat.Relay;

/// <summary>Instruments of circuit relay v2 (service and client) on the <c>P2PStack.Nat.Relay</c> meter.</summary>
public sealed class RelayMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Nat.Relay";

    private readonly Counter<long> _reservationRequests;
    private readonly Counter<long> _circuitRequests;
    private readonly Counter<long> _circuitsClosed;
    private readonly Counter<long> _relayedBytes;
    private readonly Counter<long> _clientReservations;
    private readonly Counter<long> _clientErrors;
    private Func<int>? _reservations;
    private Func<int>? _circuits;
    private Func<int>? _clientActive;

    public RelayMetrics(IMeterFactory? factory = null) : base(factory, MeterName)
    {
        _reservationRequests = Meter.CreateCounter<long>("p2pstack_relay_reservation_requests_total", "{request}",
            "Reservation requests to our relay service, by result (ok, refused_limit, refused_per_ip, refused_relayed, denied, malformed).");
        _circuitRequests = Meter.CreateCounter<long>("p2pstack_relay_circuit_requests_total", "{request}",
            "Connect requests to our relay service, by result (ok, no_reservation, resource_limit, connection_failed, refused_relayed, malformed).");
        _circuitsClosed = Meter.CreateCounter<long>("p2pstack_relay_circuits_closed_total", "{circuit}",
            "Relayed connections our relay closed, by reason (done, duration_limit, data_limit, reset).");
        _relayedBytes = Meter.CreateCounter<long>("p2pstack_relayed_bytes_total", "By",
            "Bytes our relay service moved between the two ends of relayed connections (both directions).");
        _clientReservations = Meter.CreateCounter<long>("p2pstack_relay_client_reservations_total", "{reservation}",
            "Reservations we made on relays (new or refreshed), by result (ok, refused, malformed).");
        _clientErrors = Meter.CreateCounter<long>("p2pstack_relay_client_errors_total", "{error}",
            "Relay misbehaviour seen by our client, by kind (malformed, bad_voucher, short_reservation, unexpected_stop, limit_exceeded).");
        Meter.CreateObservableGauge("p2pstack_relay_reservations", () => _reservations?.Invoke() ?? 0, "{reservation}",
            "Reservations held on our relay service.");
        Meter.CreateObservableGauge("p2pstack_relay_circuits", () => _circuits?.Invoke() ?? 0, "{circuit}",
            "Relayed connections open through our relay service.");
        Meter.CreateObservableGauge("p2pstack_relay_client_active_reservations", () => _clientActive?.Invoke() ?? 0, "{reservation}",
            "Reservations we hold on relays now.");
    }

    internal void ObserveService(Func<int> reservations, Func<int> circuits)
    {
        _reservations = reservations;
        _circuits = circuits;
    }

    internal void ObserveClient(Func<int> active) => _clientActive = active;

    internal void Reservation(string result) => _reservationRequests.Add(1, new KeyValuePair<string, object?>("result", result));

    internal void Circuit(string result) => _circuitRequests.Add(1, new KeyValuePair<string, object?>("result", result));

    internal void CircuitClosed(string reason) => _circuitsClosed.Add(1, new KeyValuePair<string, object?>("reason", reason));

    internal void Relayed(long bytes) => _relayedBytes.Add(bytes);

    internal void ClientReservation(string result) => _clientReservations.Add(1, new KeyValuePair<string, object?>("result", result));

    internal void ClientError(string kind) => _clientErrors.Add(1, new KeyValuePair<string, object?>("kind", kind));
}
