using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// Every gossipsub parameter (gossipsub v1.0/v1.1/v1.2 specs). Defaults are the spec's recommendations; where the spec
/// leaves a value open, go-libp2p-pubsub's.
/// </summary>
public sealed class GossipSubOptions
{
    /// <summary>
    /// Router protocol ids served and offered, in preference order (a subset of <see cref="GossipSubProtocols.All"/>).
    /// Only <see cref="GossipSubProtocols.FloodSub"/> makes a plain floodsub router: no mesh, every message flooded to
    /// every peer of its topic (go's and js's floodsub).
    /// </summary>
    public IReadOnlyList<string> Protocols { get; set; } = GossipSubProtocols.All;

    // Mesh degree
    /// <summary>Desired mesh degree.</summary>
    public int D { get; set; } = 6;
    /// <summary>Below this many mesh peers the heartbeat grafts up to <see cref="D"/>.</summary>
    public int DLow { get; set; } = 4;
    /// <summary>Above this many mesh peers the heartbeat prunes down to <see cref="D"/>.</summary>
    public int DHigh { get; set; } = 12;
    /// <summary>Mesh peers kept by score when pruning for oversubscription; the rest of D is random.</summary>
    public int DScore { get; set; } = 4;
    /// <summary>Outbound-connection quota of the mesh. Must be below DLow and at most D/2.</summary>
    public int DOut { get; set; } = 2;
    /// <summary>Minimum number of peers gossip is emitted to per topic.</summary>
    public int DLazy { get; set; } = 6;
    /// <summary>Fraction of eligible peers gossip is emitted to (at least DLazy).</summary>
    public double GossipFactor { get; set; } = 0.25;

    // Timing and caches
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan HeartbeatInitialDelay { get; set; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Fanout state of a topic we publish to without subscribing is dropped after this long without a publish.</summary>
    public TimeSpan FanoutTtl { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Heartbeat windows kept in the message cache (IWANT answers).</summary>
    public int McacheLength { get; set; } = 5;
    /// <summary>Most recent windows whose ids are gossiped in IHAVE.</summary>
    public int McacheGossip { get; set; } = 3;
    /// <summary>How long a message id stays in the seen cache (duplicate suppression).</summary>
    public TimeSpan SeenTtl { get; set; } = TimeSpan.FromMinutes(2);

    // PRUNE, backoff, peer exchange
    public TimeSpan PruneBackoff { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>Backoff announced in the PRUNEs sent when we leave a topic.</summary>
    public TimeSpan UnsubscribeBackoff { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>A GRAFT this soon after our PRUNE (within the backoff) is penalised twice.</summary>
    public TimeSpan GraftFloodThreshold { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Send peer exchange in PRUNEs (off by default, as in go and js: it reveals our peers).</summary>
    public bool DoPeerExchange { get; set; }
    /// <summary>Peers offered in one PRUNE, and the most taken from a received one.</summary>
    public int PrunePeers { get; set; } = 16;
    /// <summary>Dial attempts started from peer exchange that may be pending at once.</summary>
    public int MaxPendingConnections { get; set; } = 128;
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Longest one write to a peer's stream may wait (at most <see cref="WriteBatchBytes"/> plus one RPC):
    /// a peer that stops reading has its stream reset rather than stalling our writes and holding its queue.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Queued RPCs are flushed once this many bytes are written, so every flush is small enough for
    /// <see cref="WriteTimeout"/> to mean a stalled peer rather than a slow one.</summary>
    public int WriteBatchBytes { get; set; } = 64 * 1024;

    // Publishing and gossip
    /// <summary>Publish our own messages to every topic peer above the publish threshold, not only the mesh.</summary>
    public bool FloodPublish { get; set; } = true;
    /// <summary>Times one message is sent to the same peer in answer to IWANT.</summary>
    public int GossipRetransmission { get; set; } = 3;
    /// <summary>Most message ids asked from one peer per heartbeat, and the most read from one IHAVE.</summary>
    public int MaxIHaveLength { get; set; } = 5000;
    /// <summary>Most IHAVE-carrying RPCs processed from one peer per heartbeat.</summary>
    public int MaxIHaveMessages { get; set; } = 10;
    /// <summary>An IWANT not answered within this time costs the advertiser a behaviour penalty.</summary>
    public TimeSpan IWantFollowupTime { get; set; } = TimeSpan.FromSeconds(3);
    public int OpportunisticGraftTicks { get; set; } = 60;
    public int OpportunisticGraftPeers { get; set; } = 2;

    // IDONTWANT (v1.2)
    /// <summary>Messages with at least this many data bytes trigger IDONTWANT to our mesh peers.</summary>
    public int IDontWantMessageThreshold { get; set; } = 1024;
    /// <summary>Heartbeats a received IDONTWANT is honoured for.</summary>
    public int IDontWantMessageTtl { get; set; } = 3;
    /// <summary>Most message ids read from the IDONTWANTs of one RPC.</summary>
    public int MaxIDontWantLength { get; set; } = 10;
    /// <summary>Most IDONTWANT-carrying RPCs processed from one peer per heartbeat.</summary>
    public int MaxIDontWantMessages { get; set; } = 1000;

    // Direct peers
    /// <summary>Explicit peering agreements: always connected, always forwarded to, never in the mesh.</summary>
    public List<(PeerId Peer, IReadOnlyList<Multiaddr> Addresses)> DirectPeers { get; set; } = [];
    /// <summary>Heartbeats between checks that direct peers are connected.</summary>
    public int DirectConnectTicks { get; set; } = 300;

    // Messages, signing, validation
    public SignaturePolicy SignaturePolicy { get; set; } = SignaturePolicy.StrictSign;
    /// <summary>Message id; null uses from + seqno (go's and js's default). Must be the same on every peer of a topic.</summary>
    public Func<Message, byte[]>? MessageIdFunction { get; set; }
    /// <summary>Largest accepted or published message (its protobuf encoding).</summary>
    public int MaxMessageSize { get; set; } = 1 << 20;
    /// <summary>Largest RPC frame read from or written to a stream.</summary>
    public int MaxRpcSize { get; set; } = 1 << 20;
    /// <summary>Application validation of one message gives up (as Ignore) after this long.</summary>
    public TimeSpan ValidationTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Validations running at once; messages beyond this are dropped as throttled (no penalty).</summary>
    public int MaxConcurrentValidations { get; set; } = 1024;
    /// <summary>Deliver our own published messages to our own subscriptions.</summary>
    public bool DeliverOwnMessages { get; set; } = true;

    // Resource limits
    /// <summary>Subscription changes read from one RPC; more cost a behaviour penalty and are ignored.</summary>
    public int MaxSubscriptionsPerRpc { get; set; } = 1000;
    /// <summary>Topics tracked per remote peer; more cost a behaviour penalty and are ignored.</summary>
    public int MaxTopicsPerPeer { get; set; } = 1000;
    /// <summary>Longest topic name (UTF-8 bytes) accepted.</summary>
    public int MaxTopicLength { get; set; } = 1024;
    /// <summary>Topics this node may subscribe to at once.</summary>
    public int MaxLocalSubscriptions { get; set; } = 1000;
    /// <summary>RPCs queued for one peer; beyond this, messages to the peer are dropped.</summary>
    public int MaxOutboundQueue { get; set; } = 256;

    /// <summary>Priority of the outbound queues' memory reservations in the resource manager's <c>service gossipsub</c>
    /// scope (255 may fill its limit, lower values only <c>(priority + 1) / 256</c> of it): slow peers' queues stop at
    /// half by default, leaving the rest for the RPCs being received.</summary>
    public byte OutboundReservationPriority { get; set; } = 127;

    /// <summary>Priority of the reservation an inbound RPC holds while it is handled (see <see cref="OutboundReservationPriority"/>).</summary>
    public byte InboundReservationPriority { get; set; } = 255;

    // Scoring
    public bool ScoringEnabled { get; set; } = true;
    public PeerScoreParams ScoreParams { get; set; } = new();
    public PeerScoreThresholds ScoreThresholds { get; set; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent parameter.</summary>
    public void Validate()
    {
        static void Require(bool c, string n, string r) => PeerScoreParams.Require(c, n, r);
        Require(Protocols is { Count: > 0 } && Protocols.All(GossipSubProtocols.All.Contains), nameof(Protocols),
            $"must be a non-empty subset of {string.Join(", ", GossipSubProtocols.All)}");
        Require(D >= 0, nameof(D), "must be >= 0");
        Require(DLow >= 0 && DLow <= D, nameof(DLow), "must be in [0, D]");
        Require(DHigh >= D, nameof(DHigh), "must be >= D");
        Require(DScore >= 0 && DScore <= D, nameof(DScore), "must be in [0, D]");
        Require(DOut >= 0 && (DOut < DLow || DLow == 0) && DOut <= D / 2, nameof(DOut), "must be below DLow and at most D/2");
        Require(DLazy >= 0, nameof(DLazy), "must be >= 0");
        Require(GossipFactor is >= 0 and <= 1, nameof(GossipFactor), "must be in [0, 1]");
        Require(HeartbeatInterval > TimeSpan.Zero, nameof(HeartbeatInterval), "must be positive");
        Require(HeartbeatInitialDelay >= TimeSpan.Zero, nameof(HeartbeatInitialDelay), "must be >= 0");
        Require(McacheLength >= 1, nameof(McacheLength), "must be >= 1");
        Require(McacheGossip >= 0 && McacheGossip <= McacheLength, nameof(McacheGossip), "must be in [0, McacheLength]");
        Require(SeenTtl > TimeSpan.Zero, nameof(SeenTtl), "must be positive");
        Require(PruneBackoff >= TimeSpan.Zero && UnsubscribeBackoff >= TimeSpan.Zero, nameof(PruneBackoff), "backoffs must be >= 0");
        Require(PrunePeers >= 0, nameof(PrunePeers), "must be >= 0");
        Require(GossipRetransmission >= 1, nameof(GossipRetransmission), "must be >= 1");
        Require(MaxIHaveLength >= 1 && MaxIHaveMessages >= 1, nameof(MaxIHaveLength), "IHAVE limits must be >= 1");
        Require(MaxIDontWantLength >= 1 && MaxIDontWantMessages >= 1, nameof(MaxIDontWantLength), "IDONTWANT limits must be >= 1");
        Require(IDontWantMessageTtl >= 1, nameof(IDontWantMessageTtl), "must be >= 1");
        Require(OpportunisticGraftTicks >= 1, nameof(OpportunisticGraftTicks), "must be >= 1");
        Require(DirectConnectTicks >= 1, nameof(DirectConnectTicks), "must be >= 1");
        Require(MaxMessageSize >= 64 && MaxRpcSize >= 64, nameof(MaxRpcSize), "size limits must be at least 64 bytes");
        Require(MaxConcurrentValidations >= 1, nameof(MaxConcurrentValidations), "must be >= 1");
        Require(ValidationTimeout > TimeSpan.Zero, nameof(ValidationTimeout), "must be positive");
        Require(WriteTimeout > TimeSpan.Zero, nameof(WriteTimeout), "must be positive");
        Require(WriteBatchBytes > 0, nameof(WriteBatchBytes), "must be positive");
        Require(MaxSubscriptionsPerRpc >= 1 && MaxTopicsPerPeer >= 1 && MaxLocalSubscriptions >= 1, nameof(MaxTopicsPerPeer), "topic limits must be >= 1");
        Require(MaxTopicLength >= 1, nameof(MaxTopicLength), "must be >= 1");
        Require(MaxOutboundQueue >= 1, nameof(MaxOutboundQueue), "must be >= 1");
        if (!ScoringEnabled) return;
        ScoreParams.Validate();
        ScoreThresholds.Validate();
    }
}
