using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using P2PStack.Diagnostics;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host.Metrics;

/// <summary>
/// The host's instruments on the <c>P2PStack.Host</c> meter. Gauges are observed from the live connection table
/// at scrape time; counters are bumped where things happen. Every label has a bounded set of values.
/// </summary>
internal sealed class HostMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Host";

    /// <summary>Security protocol ids of the hybrid post-quantum Noise suites start with this.</summary>
    public const string QuantumSecurePrefix = "/noise-mlkem";

    private readonly Func<IReadOnlyList<IConnection>> _connections;
    private readonly IPeerStore _peerStore;
    private readonly HostMetricsOptions _options;
    private readonly Counter<long> _dialAttempts;
    private readonly Counter<long> _dialFailures;
    private readonly Counter<long> _inboundRefused;
    private readonly Counter<long> _connectionsOpened;
    private readonly Counter<long> _streamsOpened;
    private readonly ConcurrentDictionary<string, TrafficCounter> _traffic = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Protocol, Direction Direction), StrongBox<int>> _openStreams = new();

    public HostMetrics(IMeterFactory? factory, Func<IReadOnlyList<IConnection>> connections, IPeerStore peerStore,
        HostMetricsOptions options)
        : base(factory, MeterName)
    {
        _connections = connections;
        _peerStore = peerStore;
        _options = options;

        Meter.CreateObservableGauge("p2pstack_connections", ObserveConnections, "{connection}",
            "Established connections by direction, transport and security protocol.");
        Meter.CreateObservableGauge("p2pstack_quantum_secure_connections", ObserveQuantumSecure, "{connection}",
            "Established connections secured by a hybrid post-quantum Noise suite (/noise-mlkem*-hfs).");
        Meter.CreateObservableGauge("p2pstack_connected_peers", () => DistinctPeers().Count, "{peer}",
            "Peers with at least one established connection.");
        Meter.CreateObservableGauge("p2pstack_streams", ObserveStreams, "{stream}",
            "Open protocol streams by protocol and direction.");
        Meter.CreateObservableCounter("p2pstack_bytes_sent_total", () => ObserveTraffic(sent: true), "By",
            "Bytes written to transport connections (wire bytes: handshakes, encryption and muxer framing included).");
        Meter.CreateObservableCounter("p2pstack_bytes_received_total", () => ObserveTraffic(sent: false), "By",
            "Bytes read from transport connections (wire bytes: handshakes, encryption and muxer framing included).");
        Meter.CreateObservableGauge("p2pstack_peer_rtt_seconds", ObserveRtt, "s",
            "Round-trip time to connected peers from the peer store's ping statistics (stat = current, min, max, avg).");
        _dialAttempts = Meter.CreateCounter<long>("p2pstack_dial_attempts_total", "{dial}",
            "Outbound connection attempts to one address, by transport.");
        _dialFailures = Meter.CreateCounter<long>("p2pstack_dial_failures_total", "{dial}",
            "Failed outbound connection attempts to one address, by transport and reason.");
        _inboundRefused = Meter.CreateCounter<long>("p2pstack_inbound_refused_total", "{connection}",
            "Inbound connections refused or failed before being established, by reason.");
        _connectionsOpened = Meter.CreateCounter<long>("p2pstack_connections_opened_total", "{connection}",
            "Connections established since start, by direction and transport.");
        _streamsOpened = Meter.CreateCounter<long>("p2pstack_streams_opened_total", "{stream}",
            "Protocol streams negotiated since start, by protocol and direction.");
    }

    /// <summary>Wraps a raw connection so that its bytes count towards its transport's totals.</summary>
    public IRawConnection CountTraffic(IRawConnection raw, string transport) =>
        new TrafficCountingConnection(raw, _traffic.GetOrAdd(transport, static _ => new TrafficCounter()));

    public void DialAttempted(string transport) => _dialAttempts.Add(1, new KeyValuePair<string, object?>("transport", transport));

    public void DialFailed(string transport, Exception error) => _dialFailures.Add(1,
        new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("reason", FailureReason(error)));

    public void InboundRefused(string reason) => _inboundRefused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ConnectionOpened(IConnection connection) => _connectionsOpened.Add(1,
        new KeyValuePair<string, object?>("direction", DirectionLabel(connection.Direction)),
        new KeyValuePair<string, object?>("transport", connection.Transport));

    /// <summary>Counts a negotiated stream as open; decrement the returned box (atomically) when it ends.</summary>
    public StrongBox<int> StreamOpened(string protocol, Direction direction)
    {
        _streamsOpened.Add(1, new KeyValuePair<string, object?>("protocol", protocol),
            new KeyValuePair<string, object?>("direction", DirectionLabel(direction)));
        var open = _openStreams.GetOrAdd((protocol, direction), static _ => new StrongBox<int>());
        Interlocked.Increment(ref open.Value);
        return open;
    }

    /// <summary>A short, bounded label for why a connection attempt failed.</summary>
    public static string FailureReason(Exception error) => error switch
    {
        TimeoutException => "timeout",
        OperationCanceledException => "cancelled",
        ConnectionGatedException => "gated",
        PeerIdMismatchException => "peer_id_mismatch",
        AuthenticationException => "handshake",
        ResourceLimitExceededException => "resource_limit",
        NotSupportedException => "no_transport",
        ProtocolNotSupportedException or P2PFormatException => "negotiation",
        SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "connection_refused",
        SocketException or IOException => "network",
        _ => "other",
    };

    private static string DirectionLabel(Direction direction) => direction == Direction.Inbound ? "inbound" : "outbound";

    private IEnumerable<Measurement<int>> ObserveConnections()
    {
        foreach (var group in _connections().GroupBy(c => (c.Direction, c.Transport, c.SecurityProtocol)))
        {
            yield return new Measurement<int>(group.Count(),
                new KeyValuePair<string, object?>("direction", DirectionLabel(group.Key.Direction)),
                new KeyValuePair<string, object?>("transport", group.Key.Transport),
                new KeyValuePair<string, object?>("security", group.Key.SecurityProtocol));
        }
    }

    private int ObserveQuantumSecure() =>
        _connections().Count(c => c.SecurityProtocol.StartsWith(QuantumSecurePrefix, StringComparison.Ordinal));

    private IEnumerable<Measurement<int>> ObserveStreams()
    {
        foreach (var ((protocol, direction), open) in _openStreams)
        {
            yield return new Measurement<int>(Volatile.Read(ref open.Value),
                new KeyValuePair<string, object?>("protocol", protocol),
                new KeyValuePair<string, object?>("direction", DirectionLabel(direction)));
        }
    }

    private IEnumerable<Measurement<long>> ObserveTraffic(bool sent)
    {
        foreach (var (transport, counter) in _traffic)
        {
            long value = sent ? Interlocked.Read(ref counter.Sent) : Interlocked.Read(ref counter.Received);
            yield return new Measurement<long>(value, new KeyValuePair<string, object?>("transport", transport));
        }
    }

    private IEnumerable<Measurement<double>> ObserveRtt()
    {
        foreach (var peer in DistinctPeers().Take(_options.MaxPeerRttSeries))
        {
            if (_peerStore.GetLatency(peer) is not { } stats) continue;
            var label = new KeyValuePair<string, object?>("peer", peer.ToString());
            yield return new Measurement<double>(stats.Current.TotalSeconds, label, new("stat", "current"));
            yield return new Measurement<double>(stats.Min.TotalSeconds, label, new("stat", "min"));
            yield return new Measurement<double>(stats.Max.TotalSeconds, label, new("stat", "max"));
            yield return new Measurement<double>(stats.Average.TotalSeconds, label, new("stat", "avg"));
        }
    }

    private List<PeerId> DistinctPeers() => [.. _connections().Select(c => c.RemotePeer).Distinct()];
}
