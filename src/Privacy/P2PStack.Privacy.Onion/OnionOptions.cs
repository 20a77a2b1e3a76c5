using P2PStack.Identity;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion;

/// <summary>
/// Settings of the onion module (<c>AddOnion</c>): the network parameters every node of one network must share (cell
/// size, protocol ids), the client (paths, lifetimes, preemptive circuits, flow control), the relay (limits, exit
/// policy, onion keys, descriptor) and the directory.
/// </summary>
public sealed class OnionOptions
{
    /// <summary>The link protocol between a client and its first relay and between relays.</summary>
    public string ProtocolId { get; set; } = "/synaptic/onion/1.0.0";

    /// <summary>The protocol an exit opens on the destination; the destination serves it when it accepts circuit
    /// connections (<see cref="AcceptCircuitConnections"/>).</summary>
    public string DestinationProtocolId { get; set; } = "/synaptic/onion/dest/1.0.0";

    /// <summary>Bytes of every cell on every circuit link (Tor: 514). A network parameter: relays whose descriptor
    /// names another size are not used.</summary>
    public int CellSize { get; set; } = 514;

    /// <summary>Largest multi-cell relay message (EXTEND carries a 2345-byte handshake).</summary>
    public int MaxRelayMessageSize { get; set; } = 8 * 1024;

    /// <summary>Builds circuits and dials through them (the transport). On by default.</summary>
    public bool EnableClient { get; set; } = true;

    /// <summary>Serves <see cref="DestinationProtocolId"/>: this node can be reached over circuits (the host listens on
    /// <c>/p2p-onion</c>). Inbound circuit connections are anonymous and serve only protocols that opt in.</summary>
    public bool AcceptCircuitConnections { get; set; } = true;

    /// <summary>Whether the destination's end of a circuit connection (the stream an exit opens here, which carries the
    /// client's Noise and muxer) is read on the muxer's read loop of the connection from the exit (asked with
    /// <see cref="P2PStack.Network.IStream.TryReadInline"/>): each batch from the exit is then decrypted and
    /// demultiplexed end to end on the thread that read it, without a hand-off to the thread pool; it holds up the
    /// connection's other streams meanwhile, and that includes the client's whole end-to-end handshake (X-Wing, its
    /// signature checks) and the host's inbound steps after it, since the loop is asked for before the upgrade: a
    /// benchmark's switch, not for an exit shared by many circuits. Off by default: alone it resolved no CPU gain; with the process's socket
    /// completions inline as well (the chain then runs on the socket's event thread) the client-and-destination process
    /// of the loopback benchmark spent 3.7-4.7 ms per MiB against 4.9-6.1 without either, under load, not yet confirmed on
    /// a quiet machine (docs/benchmarks.md, "Onion loopback, sixteenth pass").</summary>
    public bool DestinationReadsOnMuxerLoop { get; set; }

    /// <summary>How long a circuit's end (client or relay) waits to send its DESTROY cells and, on the client, for a
    /// writer to leave the link before the hop keys are disposed; past it the DESTROY is skipped (the neighbour learns
    /// of the end from the link) and the keys are left to the garbage collector.</summary>
    public TimeSpan TeardownTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>SENDME windows (network parameters: a client and its exit must agree).</summary>
    public FlowControlOptions FlowControl { get; } = new();

    public OnionClientOptions Client { get; } = new();

    public OnionRelayOptions Relay { get; } = new();

    public OnionDirectoryOptions Directory { get; } = new();

    internal CellLayout Layout => new(CellSize);

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(ProtocolId);
        ArgumentException.ThrowIfNullOrEmpty(DestinationProtocolId);
        _ = new CellLayout(CellSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRelayMessageSize, 4096);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TeardownTimeout, TimeSpan.Zero);
        FlowControl.Validate();
        Client.Validate();
        Relay.Validate();
        Directory.Validate();
    }
}

/// <summary>How a client builds and uses circuits.</summary>
public sealed class OnionClientOptions
{
    /// <summary>The protocol's bound on path length.</summary>
    public const int MaxPathLength = 8;

    /// <summary>Hops of a circuit when the request names none.</summary>
    public int DefaultHops { get; set; } = 3;

    /// <summary>Path diversity rules (on by default; turn off only for a private or test network on one machine).</summary>
    public PathDiversityOptions Diversity { get; } = new();

    /// <summary>Budget of a whole circuit build, retries included.</summary>
    public TimeSpan BuildTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Budget of one step: CREATE to the first relay, or one EXTEND.</summary>
    public TimeSpan HopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Relays tried in place of failed ones during one build, over all positions.</summary>
    public int BuildRetries { get; set; } = 3;

    /// <summary>How long after its first stream a circuit takes new streams (then it is dirty: rotation).</summary>
    public TimeSpan MaxDirtiness { get; set; } = TimeSpan.FromSeconds(300);

    /// <summary>Age after which a circuit is closed as soon as no stream uses it.</summary>
    public TimeSpan CircuitLifetime { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>Clean circuits of <see cref="DefaultHops"/> kept built and ready for new streams.</summary>
    public int PreemptiveCircuits { get; set; } = 1;

    /// <summary>How often lifetimes and the preemptive pool are checked.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Circuits this client holds at once (built or building).</summary>
    public int MaxCircuits { get; set; } = 64;

    /// <summary>Streams on one circuit.</summary>
    public int MaxStreamsPerCircuit { get; set; } = 128;

    /// <summary>Ephemeral key sets (an X-Wing key pair and an X25519 key, about 12 KB) generated ahead of the hops that
    /// take them, so that their generation is off a build's critical path; each is used for one hop and erased (0: every
    /// hop generates its own when it starts, and no first hop is prepared ahead for a pinned first relay).</summary>
    public int PreparedHandshakeKeys { get; set; } = MaxPathLength;

    /// <summary>Bound of the writes above one stream waiting for its cells to go out; past it the application's write
    /// waits for the link to drain. The default holds a whole stream window of DATA cells (500 x 491 bytes): a steady
    /// sender's next end-to-end message is then already there when the previous one's tail goes out, and leaves with it
    /// in a whole write. Worst case for memory when every circuit stalls: this x <see cref="MaxStreamsPerCircuit"/> x
    /// <see cref="MaxCircuits"/>.</summary>
    public int StreamWriteAheadBytes { get; set; } = 256 * 1024;

    /// <summary>Upper bound of <see cref="StreamWriteAheadBytes"/>.</summary>
    public const int MaxStreamWriteAheadBytes = 4 * 1024 * 1024;

    /// <summary>Whether a circuit's reader runs on the muxer's read loop of the link to the first relay (asked with
    /// <see cref="P2PStack.Network.IStream.TryReadInline"/> when the reader starts), and a stream's sender waiting for a
    /// window resumes on the reader's thread when a SENDME refills it: the SENDMEs of an upload then reach the waiting
    /// sender without the two hand-offs through the thread pool. Off by default: it took the client-and-destination
    /// process from 46-56 to 30-43 thread-pool work items per MiB, but no change of its CPU per MiB or of the throughput
    /// was resolved under the load it was measured at (docs/benchmarks.md, "Onion loopback, fourteenth pass").</summary>
    public bool ReadLinkOnMuxerLoop { get; set; }

    /// <summary>Whether a stream's pump (which cuts what the application's end-to-end session writes into DATA cells and
    /// sends them) runs on the thread that flushes those writes, up to its first wait for a window or the link, instead
    /// of resuming on the thread pool after each flush: one hand-off fewer per write, the cells layered while the written
    /// bytes are still in cache. The application's write then returns once the pump waits (the pump and the writer take
    /// turns on one thread rather than two). Off by default: at load 16-42 its runs spread as the default's (client and
    /// destination 5.5-6.0 ms per MiB against 4.4-7.1; with ReadLinkOnMuxerLoop 4.6-5.6, with the node's spin limit 0
    /// 4.2-6.4), no gain resolved; at load 8-23 it was lower than off in six of six rounds (median 4.75 against 5.40 ms
    /// per MiB) without a higher rate: to be confirmed on a quiet machine before it becomes the default
    /// (docs/benchmarks.md, "Onion loopback, seventeenth pass").</summary>
    public bool PumpOnWriter { get; set; }

    /// <summary>Relays never used in a path (e.g. known bad ones).</summary>
    public List<PeerId> ExcludedRelays { get; } = [];

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(DefaultHops, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(DefaultHops, MaxPathLength);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(BuildTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HopTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(BuildRetries);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MaxDirtiness, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(CircuitLifetime, MaxDirtiness);
        ArgumentOutOfRangeException.ThrowIfNegative(PreemptiveCircuits);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MaintenanceInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCircuits, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStreamsPerCircuit, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(PreparedHandshakeKeys);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PreparedHandshakeKeys, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(StreamWriteAheadBytes, 4096);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(StreamWriteAheadBytes, MaxStreamWriteAheadBytes);
    }
}

/// <summary>
/// Circuit- and stream-level flow control (Tor's SENDME windows): DATA cells a sender may have outstanding, and the
/// increment a SENDME grants. Network parameters: both ends of a circuit must use the same values.
/// </summary>
public sealed class FlowControlOptions
{
    public int CircuitWindow { get; set; } = 1000;

    public int CircuitSendmeIncrement { get; set; } = 100;

    public int StreamWindow { get; set; } = 500;

    public int StreamSendmeIncrement { get; set; } = 50;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(CircuitSendmeIncrement, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(CircuitWindow, CircuitSendmeIncrement);
        ArgumentOutOfRangeException.ThrowIfLessThan(StreamSendmeIncrement, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(StreamWindow, StreamSendmeIncrement);
    }
}

/// <summary>Rules that keep one operator or one network from holding several hops of a path.</summary>
public sealed class PathDiversityOptions
{
    /// <summary>Applies the rules below. Every node of a test network on one machine shares 127.0.0.0/16, so tests turn
    /// this off (<c>p2p init --onion-path-diversity off</c>); the default stays on.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>No two relays of a path with addresses in one IPv4 network of this prefix length.</summary>
    public int IPv4PrefixLength { get; set; } = 16;

    /// <summary>No two relays of a path with addresses in one IPv6 network of this prefix length.</summary>
    public int IPv6PrefixLength { get; set; } = 32;

    /// <summary>No two relays of a path that declare the same family in their descriptors.</summary>
    public bool DistinctFamilies { get; set; } = true;
}

/// <summary>What a relay serves and how it defends itself.</summary>
public sealed class OnionRelayOptions
{
    /// <summary>Serve the relay protocol and publish a descriptor (<c>p2p init --onion-relay</c>).</summary>
    public bool Enabled { get; set; }

    /// <summary>Circuits through this relay at once.</summary>
    public int MaxCircuits { get; set; } = 2048;

    /// <summary>Circuits whose previous hop is one peer (a client, or a relay carrying many clients).</summary>
    public int MaxCircuitsPerPeer { get; set; } = 256;

    /// <summary>CREATEs one peer may send in a burst, and how many more per second after it (token bucket).</summary>
    public int CreateBurstPerPeer { get; set; } = 64;

    public double CreatesPerSecondPerPeer { get; set; } = 8;

    /// <summary>Peers whose build rate is tracked (the state is keyed by remote input, so it is bounded).</summary>
    public int MaxTrackedPeers { get; set; } = 4096;

    /// <summary>Cells of data an exit holds for one circuit's streams that their destinations have not taken yet; one
    /// more ends the circuit with DESTROY <c>resource_limit</c> (counted as <c>max_queued_cells</c>). A client that
    /// keeps to the circuit window queues at most that window (<see cref="FlowControlOptions.CircuitWindow"/>, 1000), so
    /// the default refuses only a client that overruns it, and a smaller value caps an exit's memory per circuit.</summary>
    public int MaxQueuedCellsPerCircuit { get; set; } = 1000;

    /// <summary>Cells a relay reads from one link before it forwards and flushes them (what one circuit can have in
    /// flight inside the relay; the muxer's stream windows bound what waits below).</summary>
    public int CellsPerRead { get; set; } = 256;

    /// <summary>Whether a circuit's forward and backward loops run on the muxer's read loop of the link they read (asked
    /// with <see cref="P2PStack.Network.IStream.TryReadInline"/> once the hop's handshake is done), as Tor's relay runs
    /// its one event loop: a batch read from a connection is peeled and written to the next link on the thread that
    /// read it, with no hand-off to the thread pool. An exit then reads its streams to destinations on their muxer's read
    /// loop too (what a destination sends goes into DATA cells on the thread that read it; docs/benchmarks.md, "Onion
    /// loopback, fifteenth pass"). Null (the default): on exactly when the runtime runs this process's
    /// socket completions inline too (<see cref="P2PStack.Network.InlineSocketCompletions"/>: the process was started
    /// with <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, or asked for it before its first socket, as
    /// <c>synaptic-mesh p2p start</c> does for a relay), so that the socket's read, Noise, yamux and the circuit all run
    /// on the socket's event thread: measured together,
    /// a relay spent 10-20 % less CPU per MiB and switched threads 3-6 times less often; each alone did not help
    /// (docs/benchmarks.md, "Onion loopback, eleventh pass").</summary>
    public bool? ReadLinksOnMuxerLoop { get; set; }

    /// <summary>RELAY_EARLY cells a relay lets through per circuit (EXTEND travels in them): bounds circuit length.</summary>
    public int MaxRelayEarlyCells { get; set; } = 64;

    /// <summary>Streams an exit opens for one circuit.</summary>
    public int MaxStreamsPerCircuit { get; set; } = 128;

    /// <summary>Which destinations this relay opens streams to.</summary>
    public ExitPolicyOptions ExitPolicy { get; } = new();

    /// <summary>Connect to private, loopback and link-local addresses named by clients (next relays, destinations).
    /// Off by default: anonymous clients must not reach into the relay's own networks. Tests on one machine turn it
    /// on.</summary>
    public bool AllowPrivateAddresses { get; set; }

    /// <summary>Capacity advertised in the descriptor (bytes per second); clients weight their choice by it.</summary>
    public long AdvertisedBandwidth { get; set; } = 10 * 1024 * 1024;

    /// <summary>Family id published in the descriptor (relays of one operator share it); null: none.</summary>
    public string? Family { get; set; }

    /// <summary>How long an onion key stays the current one.</summary>
    public TimeSpan OnionKeyRotation { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long the previous onion key is still answered after a rotation.</summary>
    public TimeSpan OnionKeyOverlap { get; set; } = TimeSpan.FromHours(3);

    /// <summary>Validity written into the descriptor.</summary>
    public TimeSpan DescriptorLifetime { get; set; } = TimeSpan.FromHours(3);

    /// <summary>How often the descriptor is published again (also at once after an onion key rotation or an address
    /// change).</summary>
    public TimeSpan DescriptorRefresh { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How soon to publish again when no DHT peer stored the descriptor (a node whose DHT is still empty).</summary>
    public TimeSpan DescriptorRetry { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>X25519 keys generated ahead for the encapsulations to clients' ephemeral keys (one per CREATE), so that
    /// their base-point multiplication is off the CREATED's critical path; each is used once and erased (0: each CREATE
    /// generates its own).</summary>
    public int PreparedEphemeralKeys { get; set; } = 16;

    /// <summary>Time a relay waits for the next relay's CREATED when extending.</summary>
    public TimeSpan ExtendTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Time an exit waits to reach a destination.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Serve as an introduction point for shadow services (ESTABLISH_INTRO, INTRODUCE).</summary>
    public bool AcceptIntroductions { get; set; } = true;

    /// <summary>Introduction registrations held at once (one per service circuit; the state is bounded).</summary>
    public int MaxIntroductionPoints { get; set; } = 1024;

    /// <summary>Introductions forwarded per registration in a burst (token bucket; past it INTRODUCE ends with
    /// <c>resource_limit</c> and is counted).</summary>
    public int IntroductionBurst { get; set; } = 16;

    /// <summary>Introductions per second per registration, sustained.</summary>
    public double IntroductionsPerSecond { get; set; } = 4;

    /// <summary>INTRODUCEs (auth key and client nonce) an introduction point remembers to refuse the same one sent again
    /// (the oldest is forgotten first; 32 bytes and a hash set entry each).</summary>
    public int IntroductionReplayCacheSize { get; set; } = 16 * 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(IntroductionReplayCacheSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxIntroductionPoints, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(IntroductionBurst, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(IntroductionsPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCircuits, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxCircuitsPerPeer, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(CreateBurstPerPeer, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CreatesPerSecondPerPeer);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTrackedPeers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxQueuedCellsPerCircuit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(CellsPerRead, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRelayEarlyCells, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStreamsPerCircuit, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(AdvertisedBandwidth);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(OnionKeyRotation, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(OnionKeyOverlap, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DescriptorLifetime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DescriptorRefresh, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DescriptorRetry, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ExtendTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ConnectTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(PreparedEphemeralKeys);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(PreparedEphemeralKeys, 4096);
    }
}

/// <summary>An exit's policy, published in its descriptor and enforced on every BEGIN.</summary>
public sealed class ExitPolicyOptions
{
    /// <summary>Open streams to destinations at all (a relay that is not an exit only carries circuits).</summary>
    public bool Exit { get; set; } = true;

    /// <summary>If non-empty, only these destinations.</summary>
    public List<PeerId> AllowedPeers { get; } = [];

    /// <summary>Never these destinations.</summary>
    public List<PeerId> DeniedPeers { get; } = [];
}

/// <summary>How a client learns relays.</summary>
public sealed class OnionDirectoryOptions
{
    /// <summary>How often the directory asks the DHT for relays and their descriptors.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often instead while the directory holds fewer relays than a path needs (a fresh node waits for
    /// the DHT to fill, and shadow operations wait for the directory); at most <see cref="RefreshInterval"/>.</summary>
    public TimeSpan SparseRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Least time between the starts of two refreshes when operations ask for them
    /// (<see cref="Directory.RelayDirectory.RequestRefresh"/>): many waiting operations cost one refresh at a time.</summary>
    public TimeSpan RequestedRefreshMinInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Provider keys relays spread over (a relay provides the one its peer id hashes to; clients ask all).</summary>
    public int IndexShards { get; set; } = 8;

    /// <summary>Descriptors fetched at once.</summary>
    public int FetchConcurrency { get; set; } = 8;

    /// <summary>Relays the directory keeps (the state is filled from outside input, so it is bounded).</summary>
    public int MaxRelays { get; set; } = 2048;

    /// <summary>A descriptor claiming a longer validity is treated as valid this long after it was published.</summary>
    public TimeSpan MaxDescriptorLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Budget of one refresh.</summary>
    public TimeSpan RefreshTimeout { get; set; } = TimeSpan.FromMinutes(2);

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RefreshInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(SparseRefreshInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(RequestedRefreshMinInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(IndexShards, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(FetchConcurrency, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRelays, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MaxDescriptorLifetime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RefreshTimeout, TimeSpan.Zero);
    }
}
