using System.Net;
using System.Net.Sockets;
using P2PStack.Identity;

namespace P2PStack.Protocols.GossipSub;

/// <summary>Why a message was not delivered; decides the score consequence.</summary>
internal enum RejectReason
{
    MissingSignature,
    InvalidSignature,
    UnexpectedSignature,
    UnexpectedAuthInfo,
    SelfOrigin,
    MalformedMessage,
    /// <summary>A validator rejected it: P4 for the sender and every peer that forwarded it.</summary>
    ValidationFailed,
    /// <summary>A validator ignored it (or timed out): no penalty.</summary>
    ValidationIgnored,
    /// <summary>Too many validations running: no penalty.</summary>
    ValidationThrottled,
}

/// <summary>
/// The gossipsub v1.1 peer score: per-topic counters for P1–P4 with decay, the application score P5, IP colocation
/// P6 and the behaviour penalty P7. Scores of disconnected peers are retained (when not positive) so that a peer
/// cannot shed a bad score by reconnecting.
/// </summary>
internal sealed class PeerScore
{
    private readonly PeerScoreParams _params;
    private readonly TimeProvider _time;
    private readonly Dictionary<PeerId, PeerStats> _peers = new();
    private readonly Dictionary<string, HashSet<PeerId>> _peersByIp = new(StringComparer.Ordinal);
    private readonly Dictionary<MessageId, DeliveryRecord> _deliveries = new();
    private readonly Queue<(MessageId Id, DateTimeOffset Expiry)> _deliveryExpiry = new();
    private readonly TimeSpan _deliveryRecordTtl;
    private readonly IPNetwork[] _whitelist;
    private DateTimeOffset _lastDecay;

    public PeerScore(PeerScoreParams parameters, TimeProvider time, TimeSpan deliveryRecordTtl)
    {
        _params = parameters;
        _whitelist = [.. parameters.IPColocationFactorWhitelist.Select(w => new IPNetwork(w.Network, w.PrefixLength))];
        _time = time;
        _deliveryRecordTtl = deliveryRecordTtl;
        _lastDecay = time.GetUtcNow();
    }

    public void AddPeer(PeerId peer, IReadOnlyList<IPAddress> addresses)
    {
        if (!_peers.TryGetValue(peer, out var stats)) _peers[peer] = stats = new PeerStats();
        stats.Connected = true;
        SetIps(peer, stats, IpKeys(addresses));
    }

    public void RemovePeer(PeerId peer)
    {
        if (!_peers.TryGetValue(peer, out var stats)) return;
        // Only non-positive scores are retained: they dissuade attacks on the score function.
        if (Score(peer) > 0)
        {
            SetIps(peer, stats, []);
            _peers.Remove(peer);
            return;
        }
        foreach (var (topic, topicStats) in stats.Topics)
        {
            topicStats.FirstMessageDeliveries = 0;
            LeaveMesh(topic, topicStats);
        }
        stats.Connected = false;
        stats.Expire = _time.GetUtcNow() + _params.RetainScore;
    }

    public void Graft(PeerId peer, string topic)
    {
        if (!TryGetTopicStats(peer, topic, out var stats)) return;
        stats.InMesh = true;
        stats.GraftTime = _time.GetUtcNow();
        stats.MeshTime = TimeSpan.Zero;
        stats.MeshMessageDeliveriesActive = false;
    }

    public void Prune(PeerId peer, string topic)
    {
        if (!TryGetTopicStats(peer, topic, out var stats)) return;
        LeaveMesh(topic, stats);
    }

    /// <summary>
    /// The peer leaves our mesh: an active delivery deficit becomes the sticky P3b penalty, and P3 stops applying.
    /// P3 measures a mesh peer's delivery rate; outside the mesh its counter only decays, so leaving P3 active would
    /// drive every honestly pruned peer (oversubscription, our own LEAVE) to the full deficit and keep it from being
    /// grafted again. P3b carries the memory of an actual failure; P3 restarts after the next GRAFT's activation.
    /// </summary>
    private void LeaveMesh(string topic, TopicStats stats)
    {
        if (stats.InMesh && stats.MeshMessageDeliveriesActive)
        {
            double threshold = _params.Topics[topic].MeshMessageDeliveriesThreshold;
            if (stats.MeshMessageDeliveries < threshold)
            {
                double deficit = threshold - stats.MeshMessageDeliveries;
                stats.MeshFailurePenalty += deficit * deficit;
            }
        }
        stats.InMesh = false;
        stats.MeshMessageDeliveriesActive = false;
    }

    /// <summary>P7: adds <paramref name="count"/> to the peer's behaviour penalty counter.</summary>
    public void AddPenalty(PeerId peer, int count)
    {
        if (_peers.TryGetValue(peer, out var stats)) stats.BehaviourPenalty += count;
    }

    /// <summary>A message entered validation: start tracking who delivers it.</summary>
    public void ValidateMessage(MessageId id) => GetRecord(id);

    /// <summary>The message validated: P2 (and P3 if in mesh) for its first deliverer, near-first credit for the rest.</summary>
    public void DeliverMessage(MessageId id, string topic, PeerId from)
    {
        MarkFirstDelivery(from, topic);
        var record = GetRecord(id);
        if (record.Status != DeliveryStatus.Unknown) return;
        record.Status = DeliveryStatus.Valid;
        record.Validated = _time.GetUtcNow();
        foreach (var peer in record.Peers)
            if (peer != from) MarkDuplicateDelivery(peer, topic, validated: null);
        // The peers stay recorded (the first deliverer too): a later copy from any of them is not credited again.
        record.Peers.Add(from);
    }

    public void RejectMessage(MessageId? id, string topic, PeerId from, RejectReason reason)
    {
        switch (reason)
        {
            // Clearly invalid whatever its id: penalise the sender only.
            case RejectReason.MissingSignature or RejectReason.InvalidSignature or RejectReason.UnexpectedSignature
                or RejectReason.UnexpectedAuthInfo or RejectReason.SelfOrigin or RejectReason.MalformedMessage:
                MarkInvalidDelivery(from, topic);
                return;
        }
        if (id is null) return;
        var record = GetRecord(id.Value);
        if (record.Status != DeliveryStatus.Unknown) return;
        switch (reason)
        {
            case RejectReason.ValidationIgnored:
                record.Status = DeliveryStatus.Ignored;
                record.Peers.Clear();
                return;
            case RejectReason.ValidationThrottled:
                record.Status = DeliveryStatus.Throttled;
                record.Peers.Clear();
                return;
        }
        record.Status = DeliveryStatus.Invalid;
        MarkInvalidDelivery(from, topic);
        foreach (var peer in record.Peers) MarkInvalidDelivery(peer, topic);
        record.Peers.Clear();
    }

    /// <summary>A duplicate of a message already seen arrived from <paramref name="from"/>.</summary>
    public void DuplicateMessage(MessageId id, string topic, PeerId from)
    {
        var record = GetRecord(id);
        switch (record.Status)
        {
            case DeliveryStatus.Unknown:
                record.Peers.Add(from); // still validating: credited or blamed when the verdict comes
                break;
            case DeliveryStatus.Valid:
                if (record.Peers.Add(from)) MarkDuplicateDelivery(from, topic, record.Validated);
                break;
            case DeliveryStatus.Invalid:
                MarkInvalidDelivery(from, topic);
                break;
        }
    }

    private void MarkFirstDelivery(PeerId peer, string topic)
    {
        if (!TryGetTopicStats(peer, topic, out var stats)) return;
        var parameters = _params.Topics[topic];
        stats.FirstMessageDeliveries = Math.Min(stats.FirstMessageDeliveries + 1, parameters.FirstMessageDeliveriesCap);
        if (stats.InMesh)
            stats.MeshMessageDeliveries = Math.Min(stats.MeshMessageDeliveries + 1, parameters.MeshMessageDeliveriesCap);
    }

    /// <summary>A near-first delivery by a mesh peer counts for P3 if within the window after validation.</summary>
    private void MarkDuplicateDelivery(PeerId peer, string topic, DateTimeOffset? validated)
    {
        if (!TryGetTopicStats(peer, topic, out var stats) || !stats.InMesh) return;
        var parameters = _params.Topics[topic];
        if (validated is { } at && _time.GetUtcNow() > at + parameters.MeshMessageDeliveriesWindow) return;
        stats.MeshMessageDeliveries = Math.Min(stats.MeshMessageDeliveries + 1, parameters.MeshMessageDeliveriesCap);
    }

    private void MarkInvalidDelivery(PeerId peer, string topic)
    {
        if (TryGetTopicStats(peer, topic, out var stats)) stats.InvalidMessageDeliveries += 1;
    }

    /// <summary>The score function of gossipsub v1.1.</summary>
    public double Score(PeerId peer)
    {
        if (!_peers.TryGetValue(peer, out var stats)) return 0;
        double score = 0;
        foreach (var (topic, t) in stats.Topics)
        {
            if (!_params.Topics.TryGetValue(topic, out var p)) continue;
            double topicScore = 0;
            if (t.InMesh)
            {
                double p1 = Math.Floor(t.MeshTime / p.TimeInMeshQuantum);
                topicScore += Math.Min(p1, p.TimeInMeshCap) * p.TimeInMeshWeight;
            }
            topicScore += t.FirstMessageDeliveries * p.FirstMessageDeliveriesWeight;
            if (t.MeshMessageDeliveriesActive && t.MeshMessageDeliveries < p.MeshMessageDeliveriesThreshold)
            {
                double deficit = p.MeshMessageDeliveriesThreshold - t.MeshMessageDeliveries;
                topicScore += deficit * deficit * p.MeshMessageDeliveriesWeight;
            }
            topicScore += t.MeshFailurePenalty * p.MeshFailurePenaltyWeight;
            topicScore += t.InvalidMessageDeliveries * t.InvalidMessageDeliveries * p.InvalidMessageDeliveriesWeight;
            score += topicScore * p.TopicWeight;
        }
        if (_params.TopicScoreCap > 0 && score > _params.TopicScoreCap) score = _params.TopicScoreCap;
        score += _params.AppSpecificScore(peer) * _params.AppSpecificWeight;
        score += IpColocationFactor(stats) * _params.IPColocationFactorWeight;
        if (stats.BehaviourPenalty > _params.BehaviourPenaltyThreshold)
        {
            double excess = stats.BehaviourPenalty - _params.BehaviourPenaltyThreshold;
            score += excess * excess * _params.BehaviourPenaltyWeight;
        }
        return score;
    }

    private double IpColocationFactor(PeerStats stats)
    {
        double result = 0;
        foreach (var ip in stats.Ips)
        {
            int peersInIp = _peersByIp.TryGetValue(ip, out var set) ? set.Count : 0;
            if (peersInIp > _params.IPColocationFactorThreshold)
            {
                double surplus = peersInIp - _params.IPColocationFactorThreshold;
                result += surplus * surplus;
            }
        }
        return result;
    }

    /// <summary>Decays counters once per elapsed decay interval, updates mesh times, and forgets expired peers.</summary>
    public void RefreshIfDue()
    {
        var now = _time.GetUtcNow();
        while (now - _lastDecay >= _params.DecayInterval)
        {
            _lastDecay += _params.DecayInterval;
            Refresh(now);
        }
        ExpireDeliveryRecords(now);
    }

    internal void Refresh(DateTimeOffset now)
    {
        List<PeerId>? expired = null;
        foreach (var (peer, stats) in _peers)
        {
            if (!stats.Connected)
            {
                // Retained scores do not decay, so disconnecting does not launder a bad score.
                if (now > stats.Expire) (expired ??= []).Add(peer);
                continue;
            }
            foreach (var (topic, t) in stats.Topics)
            {
                if (!_params.Topics.TryGetValue(topic, out var p)) continue;
                t.FirstMessageDeliveries = Decay(t.FirstMessageDeliveries, p.FirstMessageDeliveriesDecay);
                t.MeshMessageDeliveries = Decay(t.MeshMessageDeliveries, p.MeshMessageDeliveriesDecay);
                t.MeshFailurePenalty = Decay(t.MeshFailurePenalty, p.MeshFailurePenaltyDecay);
                t.InvalidMessageDeliveries = Decay(t.InvalidMessageDeliveries, p.InvalidMessageDeliveriesDecay);
                if (t.InMesh)
                {
                    t.MeshTime = now - t.GraftTime;
                    if (t.MeshTime > p.MeshMessageDeliveriesActivation) t.MeshMessageDeliveriesActive = true;
                }
            }
            stats.BehaviourPenalty = Decay(stats.BehaviourPenalty, _params.BehaviourPenaltyDecay);
        }
        if (expired is null) return;
        foreach (var peer in expired)
        {
            SetIps(peer, _peers[peer], []);
            _peers.Remove(peer);
        }
    }

    private double Decay(double value, double factor)
    {
        value *= factor;
        return value < _params.DecayToZero ? 0 : value;
    }

    private bool TryGetTopicStats(PeerId peer, string topic, out TopicStats stats)
    {
        stats = null!;
        if (!_peers.TryGetValue(peer, out var peerStats) || !_params.Topics.ContainsKey(topic)) return false;
        if (!peerStats.Topics.TryGetValue(topic, out stats!)) peerStats.Topics[topic] = stats = new TopicStats();
        return true;
    }

    private DeliveryRecord GetRecord(MessageId id)
    {
        if (_deliveries.TryGetValue(id, out var record)) return record;
        var now = _time.GetUtcNow();
        _deliveries[id] = record = new DeliveryRecord { FirstSeen = now };
        _deliveryExpiry.Enqueue((id, now + _deliveryRecordTtl));
        return record;
    }

    private void ExpireDeliveryRecords(DateTimeOffset now)
    {
        while (_deliveryExpiry.TryPeek(out var head) && head.Expiry <= now)
        {
            _deliveryExpiry.Dequeue();
            _deliveries.Remove(head.Id);
        }
    }

    private void SetIps(PeerId peer, PeerStats stats, List<string> ips)
    {
        foreach (var ip in stats.Ips)
        {
            if (!_peersByIp.TryGetValue(ip, out var set)) continue;
            set.Remove(peer);
            if (set.Count == 0) _peersByIp.Remove(ip);
        }
        stats.Ips = ips;
        foreach (var ip in ips)
        {
            if (!_peersByIp.TryGetValue(ip, out var set)) _peersByIp[ip] = set = [];
            set.Add(peer);
        }
    }

    /// <summary>IPv4 addresses count as themselves; IPv6 ones also by their /64, where one host holds many addresses.</summary>
    private List<string> IpKeys(IReadOnlyList<IPAddress> addresses)
    {
        var keys = new List<string>();
        foreach (var raw in addresses)
        {
            var address = raw.IsIPv4MappedToIPv6 ? raw.MapToIPv4() : raw;
            if (IsWhitelisted(address)) continue;
            AddDistinct(keys, address.ToString());
            if (address.AddressFamily == AddressFamily.InterNetworkV6)
            {
                var bytes = address.GetAddressBytes();
                Array.Clear(bytes, 8, 8);
                AddDistinct(keys, new IPAddress(bytes) + "/64");
            }
        }
        return keys;

        static void AddDistinct(List<string> list, string value)
        {
            if (!list.Contains(value)) list.Add(value);
        }
    }

    private bool IsWhitelisted(IPAddress address)
    {
        foreach (var network in _whitelist)
            if (network.Contains(address)) return true;
        return false;
    }

    internal int TrackedPeerCount => _peers.Count;

    private sealed class PeerStats
    {
        public bool Connected;
        public DateTimeOffset Expire;
        public readonly Dictionary<string, TopicStats> Topics = new(StringComparer.Ordinal);
        public List<string> Ips = [];
        public double BehaviourPenalty;
    }

    private sealed class TopicStats
    {
        public bool InMesh;
        public DateTimeOffset GraftTime;
        public TimeSpan MeshTime;
        public double FirstMessageDeliveries;
        public double MeshMessageDeliveries;
        public bool MeshMessageDeliveriesActive;
        public double MeshFailurePenalty;
        public double InvalidMessageDeliveries;
    }

    private enum DeliveryStatus { Unknown, Valid, Invalid, Ignored, Throttled }

    private sealed class DeliveryRecord
    {
        public DeliveryStatus Status;
        public DateTimeOffset FirstSeen;
        public DateTimeOffset Validated;
        public readonly HashSet<PeerId> Peers = [];
    }
}
