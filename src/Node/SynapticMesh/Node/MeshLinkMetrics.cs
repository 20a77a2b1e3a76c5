using System.Diagnostics.Metrics;
using System.Net;
using P2PStack.Diagnostics;
using P2PStack.Network;

namespace SynapticMesh.Node;

/// <summary>
/// The seed's per-link metrics, with its names and labels, next to ours (p2pstack_peer_rtt_seconds):
/// <c>mesh_peer_rtt_{current,min,max,avg}_milliseconds{local_node_id, remote_node_id, local_ip, remote_ip}</c> and
/// <c>mesh_connected_peers_total{local_node_id}</c> (a gauge, despite the seed's _total). Read from the live
/// connections and the peer store's ping statistics at scrape time; at most <see cref="MaxPeers"/> peers.
/// </summary>
public sealed class MeshLinkMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Mesh";

    /// <summary>Peers exported per scrape (4 series each).</summary>
    public const int MaxPeers = 64;

    private readonly IPeerHost _host;

    public MeshLinkMetrics(IPeerHost host, IMeterFactory? factory = null) : base(factory, MeterName)
    {
        _host = host;
        Meter.CreateObservableGauge("mesh_peer_rtt_current_milliseconds", () => Observe(s => s.Current), "ms", "Latest round-trip time to the peer.");
        Meter.CreateObservableGauge("mesh_peer_rtt_min_milliseconds", () => Observe(s => s.Min), "ms", "Smallest round-trip time to the peer.");
        Meter.CreateObservableGauge("mesh_peer_rtt_max_milliseconds", () => Observe(s => s.Max), "ms", "Largest round-trip time to the peer.");
        Meter.CreateObservableGauge("mesh_peer_rtt_avg_milliseconds", () => Observe(s => s.Average), "ms",
            "Average round-trip time to the peer (exponentially weighted, as p2pstack_peer_rtt_seconds{stat=\"avg\"}).");
        Meter.CreateObservableGauge("mesh_connected_peers_total", ObservePeers, "{peer}", "Peers with at least one established connection.");
    }

    private Measurement<int> ObservePeers() =>
        new(_host.GetConnections().Select(c => c.RemotePeer).Distinct().Count(), new KeyValuePair<string, object?>("local_node_id", _host.PeerId.ToString()));

    private IEnumerable<Measurement<double>> Observe(Func<LatencyStats, TimeSpan> stat)
    {
        string local = _host.PeerId.ToString();
        foreach (var connection in _host.GetConnections().GroupBy(c => c.RemotePeer).Select(g => g.OrderBy(c => c.OpenedAt).First()).Take(MaxPeers))
        {
            if (_host.PeerStore.GetLatency(connection.RemotePeer) is not { } stats) continue;
            yield return new Measurement<double>(stat(stats).TotalMilliseconds,
                new KeyValuePair<string, object?>("local_node_id", local),
                new KeyValuePair<string, object?>("remote_node_id", connection.RemotePeer.ToString()),
                new KeyValuePair<string, object?>("local_ip", Ip(connection.LocalAddress.GetIPAddress())),
                new KeyValuePair<string, object?>("remote_ip", Ip(connection.RemoteAddress.GetIPAddress())));
        }
    }

    private static string Ip(IPAddress? address) => address?.ToString() ?? "";
}
