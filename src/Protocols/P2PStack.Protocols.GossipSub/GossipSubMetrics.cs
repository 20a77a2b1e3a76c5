using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using P2PStack.Diagnostics;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// Gossipsub's instruments on the <c>P2PStack.GossipSub</c> meter (listed in docs/metrics.md). Counters are bumped
/// by the router and the service; the mesh gauge follows the router's mesh-change callbacks, so a scrape never
/// touches the (single-threaded) router.
/// </summary>
internal sealed class GossipSubMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.GossipSub";

    private readonly Counter<long> _published;
    private readonly Counter<long> _delivered;
    private readonly Counter<long> _duplicates;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _rpcsDropped;
    private readonly ConcurrentDictionary<string, StrongBox<int>> _mesh = new(StringComparer.Ordinal);

    public GossipSubMetrics(IMeterFactory? factory)
        : base(factory, MeterName)
    {
        _published = Meter.CreateCounter<long>("p2pstack_gossipsub_messages_published_total", "{message}",
            "Messages published by this node.");
        _delivered = Meter.CreateCounter<long>("p2pstack_gossipsub_messages_delivered_total", "{message}",
            "Messages from other peers that passed validation and reached local subscriptions.");
        _duplicates = Meter.CreateCounter<long>("p2pstack_gossipsub_messages_duplicate_total", "{message}",
            "Received messages already seen (dropped).");
        _rejected = Meter.CreateCounter<long>("p2pstack_gossipsub_messages_rejected_total", "{message}",
            "Received messages dropped by signature policy or validation, by reason.");
        _rpcsDropped = Meter.CreateCounter<long>("p2pstack_gossipsub_rpcs_dropped_total", "{rpc}",
            "RPCs dropped before they were sent or handled, by direction (inbound, outbound) and reason (queue_full, resource_limit).");
        Meter.CreateObservableGauge("p2pstack_gossipsub_mesh_peers", ObserveMesh, "{peer}",
            "Peers in our mesh, by topic (topics we are subscribed to).");
    }

    public void Published() => _published.Add(1);

    public void Delivered() => _delivered.Add(1);

    public void Duplicate() => _duplicates.Add(1);

    public void Rejected(RejectReason reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", ReasonLabel(reason)));

    public void RpcDropped(string direction, string reason) =>
        _rpcsDropped.Add(1, new KeyValuePair<string, object?>("direction", direction), new KeyValuePair<string, object?>("reason", reason));

    public void MeshChanged(string topic, bool inMesh)
    {
        var count = _mesh.GetOrAdd(topic, static _ => new StrongBox<int>());
        if (inMesh) Interlocked.Increment(ref count.Value);
        else Interlocked.Decrement(ref count.Value);
    }

    private IEnumerable<Measurement<int>> ObserveMesh()
    {
        foreach (var (topic, count) in _mesh)
            yield return new Measurement<int>(Volatile.Read(ref count.Value), new KeyValuePair<string, object?>("topic", topic));
    }

    private static string ReasonLabel(RejectReason reason) => reason switch
    {
        RejectReason.MissingSignature => "missing_signature",
        RejectReason.InvalidSignature => "invalid_signature",
        RejectReason.UnexpectedSignature => "unexpected_signature",
        RejectReason.UnexpectedAuthInfo => "unexpected_auth_info",
        RejectReason.SelfOrigin => "self_origin",
        RejectReason.MalformedMessage => "malformed",
        RejectReason.ValidationFailed => "validation_failed",
        RejectReason.ValidationIgnored => "validation_ignored",
        RejectReason.ValidationThrottled => "validation_throttled",
        _ => "other",
    };
}
