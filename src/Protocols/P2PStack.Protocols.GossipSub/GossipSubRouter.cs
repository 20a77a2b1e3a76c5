using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// The gossipsub router as a state machine: peers, subscriptions, meshes, fanout, caches and scores, driven by calls
/// (peer events, RPCs, validation verdicts, publishes, heartbeats), a clock and a seeded random source. It does no
/// I/O: everything it emits goes through <see cref="IGossipSubRouterHost"/>. Not thread-safe: callers serialise.
/// </summary>
public sealed partial class GossipSubRouter
{
    private readonly GossipSubOptions _options;
    private readonly IGossipSubRouterHost _host;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly ILogger _logger;
    private readonly PeerId _self;
    private readonly byte[] _selfBytes;
    private readonly Func<Message, byte[]> _messageId;
    private readonly PeerScoreThresholds _thresholds;

    private readonly Dictionary<PeerId, PeerState> _peers = new();
    private readonly Dictionary<string, HashSet<PeerId>> _topicPeers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _subscriptions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<PeerId>> _mesh = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<PeerId>> _fanout = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _lastPublished = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<PeerId, DateTimeOffset>> _backoff = new(StringComparer.Ordinal);
    private readonly HashSet<PeerId> _direct;
    private readonly MessageCache _mcache;
    private readonly SeenCache _seen;
    private readonly PeerScore? _score;
    private readonly PromiseTracker _promises;
    private readonly Dictionary<PeerId, RPC> _outbox = new();
    private long _heartbeatTicks;

    public GossipSubRouter(GossipSubOptions options, PeerId localPeer, IGossipSubRouterHost host, TimeProvider? time = null,
        Random? random = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(localPeer);
        ArgumentNullException.ThrowIfNull(host);
        options.Validate();
        _options = options;
        _self = localPeer;
        _selfBytes = localPeer.ToBytes();
        _host = host;
        _time = time ?? TimeProvider.System;
        _random = random ?? new Random();
        _logger = logger ?? NullLogger.Instance;
        _messageId = options.MessageIdFunction ?? (options.SignaturePolicy == SignaturePolicy.StrictSign
            ? MessageSigning.FromAndSeqnoId
            : MessageSigning.DataHashId);
        _thresholds = options.ScoringEnabled ? options.ScoreThresholds : new PeerScoreThresholds
        {
            GossipThreshold = double.NegativeInfinity, PublishThreshold = double.NegativeInfinity,
            GraylistThreshold = double.NegativeInfinity, AcceptPXThreshold = 0, OpportunisticGraftThreshold = 0,
        };
        _direct = [.. options.DirectPeers.Select(d => d.Peer)];
        _mcache = new MessageCache(options.McacheLength, options.McacheGossip);
        _seen = new SeenCache(options.SeenTtl);
        _score = options.ScoringEnabled ? new PeerScore(options.ScoreParams, _time, options.SeenTtl) : null;
        _promises = new PromiseTracker(options.IWantFollowupTime, _random);
    }

    public PeerId LocalPeer => _self;

    public IReadOnlyCollection<string> Subscriptions => _subscriptions;

    /// <summary>Peers with a pubsub stream.</summary>
    public IReadOnlyCollection<PeerId> Peers => _peers.Keys;

    /// <summary>Peers known to be subscribed to the topic.</summary>
    public IReadOnlyCollection<PeerId> GetTopicPeers(string topic) =>
        _topicPeers.TryGetValue(topic, out var peers) ? [.. peers] : [];

    public IReadOnlyCollection<PeerId> GetMeshPeers(string topic) => _mesh.TryGetValue(topic, out var peers) ? [.. peers] : [];

    public IReadOnlyCollection<PeerId> GetFanoutPeers(string topic) => _fanout.TryGetValue(topic, out var peers) ? [.. peers] : [];

    /// <summary>The peer's score (0 when scoring is off).</summary>
    public double GetScore(PeerId peer) => _score?.Score(peer) ?? 0;

    /// <summary>The negotiated protocol of a peer, or null when it has no pubsub stream.</summary>
    public string? GetProtocol(PeerId peer) => _peers.TryGetValue(peer, out var state) ? state.Protocol : null;

    /// <summary>Whether a GRAFT from us to the peer in the topic would be refused for backoff.</summary>
    public bool IsBackedOff(string topic, PeerId peer) =>
        _backoff.TryGetValue(topic, out var peers) && peers.TryGetValue(peer, out var until) && until > _time.GetUtcNow();

    /// <summary>Messages received from peers that were not seen before (diagnostics, for duplicate overhead).</summary>
    public long FirstMessages { get; private set; }

    /// <summary>Messages received from peers after a copy was already seen (diagnostics, for duplicate overhead).</summary>
    public long DuplicateMessages { get; private set; }

    /// <summary>Seen-cache check (for tests and diagnostics).</summary>
    public bool HasSeen(MessageId id) => _seen.Contains(id, _time.GetUtcNow());

    /// <summary>Computes the message id with the configured function.</summary>
    public MessageId ComputeId(Message message) => new(_messageId(message));

    /// <summary>A pubsub stream to the peer is up: track it and tell it our subscriptions.</summary>
    public void AddPeer(PeerId peer, string protocol, bool outbound, IReadOnlyList<IPAddress>? addresses = null)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(protocol);
        if (_peers.TryGetValue(peer, out var existing))
        {
            existing.Protocol = protocol;
            existing.Features = GossipSubProtocols.FeaturesOf(protocol);
            return;
        }
        _peers[peer] = new PeerState(protocol, GossipSubProtocols.FeaturesOf(protocol), outbound);
        _score?.AddPeer(peer, addresses ?? []);
        if (_subscriptions.Count > 0)
        {
            var hello = Outbox(peer);
            foreach (var topic in _subscriptions) hello.Subscriptions.Add(new RPC.Types.SubOpts { Subscribe = true, Topicid = topic });
        }
        Flush();
    }

    /// <summary>The peer has no pubsub stream any more: forget its topics and mesh links (its score is retained).</summary>
    public void RemovePeer(PeerId peer)
    {
        if (!_peers.Remove(peer, out var state)) return;
        foreach (var topic in state.Topics)
            if (_topicPeers.TryGetValue(topic, out var peers) && peers.Remove(peer) && peers.Count == 0) _topicPeers.Remove(topic);
        foreach (var (topic, mesh) in _mesh)
            if (mesh.Remove(peer)) _host.MeshChanged(peer, topic, false);
        foreach (var fanout in _fanout.Values) fanout.Remove(peer);
        _score?.RemovePeer(peer);
        _outbox.Remove(peer);
    }

    /// <summary>The peer sent bytes that are not an RPC, or a frame over the limit: a behaviour penalty.</summary>
    public void ReportMalformedRpc(PeerId peer)
    {
        _score?.AddPenalty(peer, 1);
    }

    /// <summary>Adds to the peer's behaviour penalty (P7), for misbehaviour the application detects.</summary>
    public void AddPenalty(PeerId peer, int count) => _score?.AddPenalty(peer, count);

    private double Score(PeerId peer) => _score?.Score(peer) ?? 0;

    private bool IsGossipSub(PeerId peer) => _peers.TryGetValue(peer, out var s) && s.Features.HasFlag(PeerFeatures.Mesh);

    private bool Supports(PeerId peer, PeerFeatures feature) => _peers.TryGetValue(peer, out var s) && s.Features.HasFlag(feature);

    private RPC Outbox(PeerId peer)
    {
        if (!_outbox.TryGetValue(peer, out var rpc)) _outbox[peer] = rpc = new RPC();
        return rpc;
    }

    /// <summary>Control messages go only to gossipsub peers; floodsub peers would not understand them.</summary>
    private ControlMessage? Control(PeerId peer)
    {
        if (!IsGossipSub(peer)) return null;
        var rpc = Outbox(peer);
        return rpc.Control ??= new ControlMessage();
    }

    /// <summary>Sends everything queued, one RPC per peer (control piggybacks on messages), split to the frame limit.</summary>
    private void Flush()
    {
        if (_outbox.Count == 0) return;
        foreach (var (peer, rpc) in _outbox)
        {
            if (!_peers.ContainsKey(peer)) continue;
            var parts = RpcCodec.Fragment(rpc, _options.MaxRpcSize, out int dropped);
            foreach (var part in parts) _host.Send(peer, part);
            if (dropped > 0) LogOversizedDropped(dropped, peer);
        }
        _outbox.Clear();
    }

    /// <summary>Up to <paramref name="count"/> random gossipsub peers of the topic passing <paramref name="filter"/>.</summary>
    private List<PeerId> GetPeers(string topic, int count, Func<PeerId, bool> filter)
    {
        var result = new List<PeerId>();
        if (!_topicPeers.TryGetValue(topic, out var peers)) return result;
        foreach (var peer in peers)
            if (IsGossipSub(peer) && filter(peer)) result.Add(peer);
        Shuffle(result);
        if (result.Count > count) result.RemoveRange(count, result.Count - count);
        return result;
    }

    private void Shuffle<T>(List<T> list) => _random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list));

    private bool InBackoff(string topic, PeerId peer) => _backoff.TryGetValue(topic, out var peers) && peers.ContainsKey(peer);

    private void AddBackoff(PeerId peer, string topic, bool unsubscribe) =>
        AddBackoff(peer, topic, unsubscribe ? _options.UnsubscribeBackoff : _options.PruneBackoff);

    private void AddBackoff(PeerId peer, string topic, TimeSpan interval)
    {
        if (!_backoff.TryGetValue(topic, out var peers)) _backoff[topic] = peers = new Dictionary<PeerId, DateTimeOffset>();
        var expiry = _time.GetUtcNow() + interval;
        if (!peers.TryGetValue(peer, out var existing) || existing < expiry) peers[peer] = expiry;
    }

    private void GraftInMesh(PeerId peer, string topic, HashSet<PeerId> mesh)
    {
        if (!mesh.Add(peer)) return;
        _score?.Graft(peer, topic);
        _host.MeshChanged(peer, topic, true);
    }

    private void PruneFromMesh(PeerId peer, string topic, HashSet<PeerId> mesh)
    {
        if (!mesh.Remove(peer)) return;
        _score?.Prune(peer, topic);
        _host.MeshChanged(peer, topic, false);
    }

    private sealed class PeerState(string protocol, PeerFeatures features, bool outbound)
    {
        public string Protocol = protocol;
        public PeerFeatures Features = features;
        public readonly bool Outbound = outbound;
        public readonly HashSet<string> Topics = new(StringComparer.Ordinal);
        /// <summary>IHAVE-carrying RPCs this heartbeat.</summary>
        public int IHaveCount;
        /// <summary>Message ids we asked this peer for this heartbeat.</summary>
        public int IAsked;
        /// <summary>IDONTWANT-carrying RPCs this heartbeat.</summary>
        public int IDontWantCount;
        /// <summary>Ids the peer does not want, with the heartbeats left to honour that.</summary>
        public Dictionary<MessageId, int>? DontSend;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "dropped {Count} message(s) for {Peer}: too large for one RPC")]
    private partial void LogOversizedDropped(int count, PeerId peer);
}
