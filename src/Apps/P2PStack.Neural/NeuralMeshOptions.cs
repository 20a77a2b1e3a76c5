namespace P2PStack.Neural;

/// <summary>Limits, defaults and timeouts of neural messaging.</summary>
public sealed class NeuralMeshOptions
{
    /// <summary>Largest encoded signed envelope sent or accepted.</summary>
    public int MaxMessageSize { get; set; } = 64 * 1024;

    /// <summary>Largest encoded message body (the typed part) sent or accepted.</summary>
    public int MaxBodySize { get; set; } = 48 * 1024;

    public int DefaultPriority { get; set; } = 5;

    public TimeSpan DefaultTtl { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Longest TTL honoured: a message claiming more expires after this (it bounds the replay window).</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromHours(1);

    public int DefaultHopLimit { get; set; } = 4;

    /// <summary>A message created further in the future than this is refused.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most (source, id) pairs remembered for replay rejection; each is kept until its message expires. When
    /// full, the entry of the message created earliest goes and messages created at or before it are refused
    /// (<c>too_old</c>): see docs/specs/neural.md, step 9, for how far a flood can push that watermark.</summary>
    public int ReplayCacheCapacity { get; set; } = 200_000;

    /// <summary>Most replay-cache entries one source peer may hold; its further messages are dropped
    /// (<c>replay_cache_full</c>) until some expire.</summary>
    public int ReplayCacheCapacityPerSource { get; set; } = 20_000;

    /// <summary>Replay-cache entries the messages arriving from one address block (/24 IPv4, /48 IPv6; see
    /// docs/specs/neural.md) may take per second, whatever peer ids sent them and keys signed them (identities are free,
    /// addresses are not); more are dropped (<c>rate_limited</c>). This rate bounds how fast a flood raises the replay
    /// cache's watermark.</summary>
    public double ReplayCacheRatePerAddressBlock { get; set; } = 100;

    /// <summary>Entries one address block may take at once above its rate (the token bucket's size).</summary>
    public int ReplayCacheBurstPerAddressBlock { get; set; } = 1_000;

    /// <summary>Address blocks whose rate is tracked at once; beyond, the buckets that have refilled are forgotten
    /// first, then the one used longest ago.</summary>
    public int ReplayCacheRateLimitedBlocks { get; set; } = 4_096;

    /// <summary>Messages queued per destination peer; senders wait for room (backpressure), forwarding drops.</summary>
    public int PeerQueueCapacity { get; set; } = 1024;

    /// <summary>Verified messages waiting for the handlers; stream readers wait for room.</summary>
    public int InboundQueueCapacity { get; set; } = 1024;

    /// <summary>Priority of the send queues' reservations in the resource manager's <c>service neural</c> scope (255 may
    /// fill its memory limit, lower values only <c>(priority + 1) / 256</c> of it): by default queues to slow peers stop
    /// at half, leaving the rest for messages received.</summary>
    public byte SendQueueReservationPriority { get; set; } = 127;

    /// <summary>Priority of the reservation a received message holds until the dispatch loop is done with it.</summary>
    public byte InboundReservationPriority { get; set; } = 255;

    /// <summary>A peer's send queue and stream are closed after this long without messages.</summary>
    public TimeSpan PeerQueueIdleTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>An inbound stream on which no whole frame arrives for this long is reset (longer than
    /// <see cref="PeerQueueIdleTimeout"/>, after which an honest sender closes its idle stream itself).</summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time to open the stream to a peer and write one message.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Default wait for a command's response.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Commands awaiting a response at once.</summary>
    public int MaxPendingCommands { get; set; } = 4096;

    /// <summary>Incoming commands handled at once (command workers); more wait in the command queue.</summary>
    public int MaxConcurrentCommands { get; set; } = 64;

    /// <summary>Received commands waiting for a worker; further commands are dropped (<c>queue_full</c>), never
    /// waited for, so commands cannot hold up the delivery of other messages.</summary>
    public int CommandQueueCapacity { get; set; } = 1024;

    /// <summary>Longest a command handler may run (less when the command expires sooner).</summary>
    public TimeSpan CommandHandlerTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a resolved agent -> peer mapping is reused before asking the DHT again.</summary>
    public TimeSpan AgentCacheTtl { get; set; } = TimeSpan.FromMinutes(1);

    public int AgentCacheCapacity { get; set; } = 10_000;

    /// <summary>Time limit of one agent lookup in the DHT.</summary>
    public TimeSpan AgentResolveTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often local agents' DHT records are published again (zero: only when registered).</summary>
    public TimeSpan AgentRepublishInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Wait before the second attempt of a reliable message; each further wait doubles (with up to 20%
    /// random jitter), up to <see cref="ReliableMaxBackoff"/>.</summary>
    public TimeSpan ReliableInitialBackoff { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Longest wait between two attempts of a reliable message.</summary>
    public TimeSpan ReliableMaxBackoff { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>A reliable message not acknowledged this long after its first attempt is reported failed.</summary>
    public TimeSpan ReliableGiveUpAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time one attempt has to open the stream, write the message and read the ack.</summary>
    public TimeSpan ReliableAttemptTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Reliable messages being delivered at once.</summary>
    public int MaxPendingReliable { get; set; } = 4096;

    /// <summary>Forward direct messages not meant for this node to a connected peer (within the hop limit).</summary>
    public bool EnableForwarding { get; set; } = true;

    /// <summary>Seal direct and agent messages end to end when the recipient has a sealing key (docs/specs/neural-seal.md).</summary>
    public bool SealByDefault { get; set; }

    /// <summary>Budget of fetching a peer's sealing key record.</summary>
    public TimeSpan SealingKeyFetchTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Keys shared by the members of a swarm (32 bytes each, by swarm name): swarm messages are sealed with
    /// them when published, and opened when received (docs/specs/neural-seal.md).</summary>
    public Dictionary<string, byte[]> SwarmKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>32-byte X-Wing seed of this node's sealing key (to keep it across restarts); null: a new key per run.</summary>
    public byte[]? SealingKeySeed { get; set; }

    /// <summary>Messages a listener buffers; the oldest are dropped for a listener that does not keep up.</summary>
    public int ListenerCapacity { get; set; } = 1024;

    public int MaxListeners { get; set; } = 64;

    /// <summary>Agents registered (and published in the DHT) when the mesh starts.</summary>
    public List<string> Agents { get; } = [];

    /// <summary>Swarms joined when the mesh starts.</summary>
    public List<string> Swarms { get; } = [];

    internal void Validate()
    {
        foreach (var (swarm, key) in SwarmKeys)
        {
            NeuralProtocol.ValidateName(swarm, "swarm");
            if (key is not { Length: NeuralSeal.SwarmKeySize }) throw new ArgumentException($"the key of swarm {swarm} must be {NeuralSeal.SwarmKeySize} bytes");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMessageSize, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBodySize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxBodySize, MaxMessageSize);
        ArgumentOutOfRangeException.ThrowIfNegative(DefaultPriority);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(DefaultPriority, NeuralProtocol.MaxPriority);
        ArgumentOutOfRangeException.ThrowIfLessThan(DefaultTtl, TimeSpan.FromSeconds(1));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTtl, DefaultTtl);
        ArgumentOutOfRangeException.ThrowIfNegative(DefaultHopLimit);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxClockSkew, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReplayCacheCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReplayCacheCapacityPerSource, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(PeerQueueCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(InboundQueueCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingCommands, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReplayCacheRatePerAddressBlock, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReplayCacheBurstPerAddressBlock, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReplayCacheRateLimitedBlocks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentCommands, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(CommandQueueCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(CommandHandlerTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(ListenerCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReliableInitialBackoff, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(ReliableMaxBackoff, ReliableInitialBackoff);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReliableGiveUpAfter, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ReliableAttemptTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingReliable, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(StreamIdleTimeout, TimeSpan.Zero);
        foreach (var agent in Agents) NeuralProtocol.ValidateName(agent, "agent");
        foreach (var swarm in Swarms) NeuralProtocol.ValidateName(swarm, "swarm");
    }
}
