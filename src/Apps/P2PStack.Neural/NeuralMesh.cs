using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Neural;

/// <summary>
/// Typed, signed, prioritised and expiring messages between agents: direct over <c>/synaptic/neural/1.0.0</c>,
/// swarms over gossipsub, agent names resolved through signed DHT records. Registered by <c>AddNeuralMesh</c>.
/// </summary>
/// <remarks>
/// All state lives in this file; the other parts hold behaviour by concern: <c>Send</c> (posting to peers and swarms),
/// <c>Receive</c> (verification, replay cache, routing and forwarding), <c>Dispatch</c> (handlers and listeners),
/// <c>Commands</c> (command/response), <c>Queues</c> (per-peer send queues and their streams), <c>Agents</c> and
/// <c>Swarms</c>. Collaborators come through the constructor; the optional DHT and gossipsub are simply absent when
/// the peer has none.
/// </remarks>
public sealed partial class NeuralMesh : IAsyncDisposable
{
    // Collaborators.
    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly KademliaDht? _dht;
    private readonly GossipSubService? _gossip;
    private readonly IServiceScopeFactory _scopes; // one DI scope per delivered message, for its handlers
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly INeuralNextHops[] _nextHops; // forwarders for peers this node cannot dial (browsers behind their host)

    // Receiving: the replay cache, verified messages waiting for the handlers, and the loop that runs them.
    private readonly ReplayGuard _replay;
    private readonly Channel<Delivery> _inbound;
    private readonly Task _dispatchLoop;

    // Commands: received ones waiting for a worker (never the dispatch loop), and sent ones awaiting their response.
    private readonly Channel<ReceivedMessage<Messages.Command>> _commands;
    private readonly Task[] _commandWorkers;
    private readonly ConcurrentDictionary<UInt128, PendingCommand> _pending = new();

    // Sending: one queue (and long-lived stream) per destination peer, retired when idle.
    private readonly Lock _queuesGate = new();
    private readonly Dictionary<PeerId, PeerSendQueue> _queues = [];

    // Listeners: live feeds of delivered messages.
    private readonly Lock _listenersGate = new();
    private readonly List<NeuralListener> _listeners = [];

    // Agents registered here, and resolved locations of others.
    private readonly Lock _agentsGate = new();
    private readonly HashSet<string> _agents = new(StringComparer.Ordinal);
    private readonly AgentCache _agentCache;

    // Swarms joined, and gossip messages our topic validator verified (so delivery does not verify them again).
    private readonly Lock _swarmsGate = new();
    private readonly Dictionary<string, SwarmMembership> _swarms = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<P2PStack.Protocols.GossipSub.Pb.Message, VerifiedMessage> _validated = [];

    private readonly CancellationTokenSource _lifetime = new();
    private int _disposed;

    public NeuralMesh(IPeerHost host, ILocalIdentity identity, IOptions<NeuralMeshOptions> options, IServiceScopeFactory scopes,
        KademliaDht? dht = null, GossipSubService? gossip = null, ILogger<NeuralMesh>? logger = null, TimeProvider? time = null,
        IMeterFactory? meterFactory = null, IEnumerable<INeuralNextHops>? nextHops = null, IResourceManager? resources = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(scopes);
        Options = options.Value;
        Options.Validate();
        _host = host;
        _identity = identity;
        _dht = dht;
        _gossip = gossip;
        _scopes = scopes;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _nextHops = [.. nextHops ?? []];
        Memory = resources?.Service(ResourceService);
        _replay = new ReplayGuard(Options.ReplayCacheCapacity, Options.ReplayCacheCapacityPerSource,
            new BlockRateLimiter(Options.ReplayCacheRatePerAddressBlock, Options.ReplayCacheBurstPerAddressBlock, Options.ReplayCacheRateLimitedBlocks));
        _inbound = Channel.CreateBounded<Delivery>(new BoundedChannelOptions(Options.InboundQueueCapacity) { SingleReader = true });
        _commands = Channel.CreateBounded<ReceivedMessage<Messages.Command>>(new BoundedChannelOptions(Options.CommandQueueCapacity));
        _agentCache = new AgentCache(Options.AgentCacheCapacity);
        Metrics = new NeuralMetrics(meterFactory, () => TotalQueued, () => _pending.Count, () => _replay.Evicted, ReplayWatermarkAge);
        _dispatchLoop = Task.Run(DispatchLoopAsync);
        _commandWorkers = [.. Enumerable.Range(0, Options.MaxConcurrentCommands).Select(_ => Task.Run(CommandWorkerAsync))];
    }

    public NeuralMeshOptions Options { get; }

    public PeerId LocalPeer => _identity.PeerId;

    internal NeuralMetrics Metrics { get; }

    /// <summary>The resource manager's service scope the queues reserve their memory in.</summary>
    public const string ResourceService = "neural";

    /// <summary>The scope queued messages reserve their bytes in (null without a resource manager).</summary>
    internal IResourceScope? Memory { get; }

    internal DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Seconds from the replay cache's watermark to now (negative when a flood pushed it ahead of this clock);
    /// null while the cache never had to evict.</summary>
    private double? ReplayWatermarkAge() =>
        _replay.Watermark is var mark && mark == DateTimeOffset.MinValue ? null : (Now - mark).TotalSeconds;

    /// <summary>Counters, queue depths, local agents and swarms.</summary>
    public NeuralMeshStats GetStats()
    {
        Dictionary<string, int> depths;
        lock (_queuesGate) depths = _queues.ToDictionary(kv => kv.Key.ToString(), kv => kv.Value.Depth, StringComparer.Ordinal);
        return new NeuralMeshStats(Metrics.SentByType, Metrics.ReceivedByType, Metrics.DroppedByKind, Metrics.ForwardedTotal, depths,
            _inbound.Reader.Count, _pending.Count, _replay.Count, LocalAgents, JoinedSwarms);
    }

    /// <summary>Reliable-delivery figures of this node: attempts made as a sender, duplicates acknowledged without a
    /// second delivery as a receiver, and outcomes as a sender.</summary>
    public (long Attempts, long Duplicates, long Delivered, long Refused, long Failed) ReliableCounts =>
        (Metrics.ReliableAttemptsTotal, Metrics.ReliableDuplicatesTotal, Metrics.ReliableCount(DeliveryStatus.Delivered),
            Metrics.ReliableCount(DeliveryStatus.Refused), Metrics.ReliableCount(DeliveryStatus.Failed));

    /// <summary>Messages dropped for <paramref name="reason"/>, over all types.</summary>
    public long DroppedCount(DropReason reason) => Metrics.DroppedCount(reason);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        _inbound.Writer.TryComplete();
        _commands.Writer.TryComplete();
        await _dispatchLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        while (_inbound.Reader.TryRead(out var undelivered)) Memory?.ReleaseMemory(undelivered.Size);
        await Task.WhenAll(_commandWorkers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await LeaveAllSwarmsAsync().ConfigureAwait(false);
        PeerSendQueue[] queues;
        lock (_queuesGate)
        {
            queues = [.. _queues.Values];
            _queues.Clear();
        }
        await Task.WhenAll(queues.Select(q => q.CloseAsync())).ConfigureAwait(false);
        foreach (var pending in _pending.Values) pending.Completion.TrySetCanceled();
        NeuralListener[] listeners;
        lock (_listenersGate) listeners = [.. _listeners];
        foreach (var listener in listeners) listener.Dispose();
        Metrics.Dispose();
        _lifetime.Dispose();
    }

    /// <summary>A verified message for this node, from <see cref="From"/> (this node for local messages).</summary>
    private sealed record Delivery(VerifiedMessage Message, DateTimeOffset ReceivedAt, PeerId From)
    {
        /// <summary>What the queued message holds: its envelope, and the decoded message about as much again.</summary>
        public long Size { get; } = 2L * Message.Envelope.Length;
    }

    private sealed record PendingCommand(PeerId ExpectedPeer, TaskCompletionSource<ReceivedMessage<Messages.Response>> Completion);

    [LoggerMessage(Level = LogLevel.Debug, Message = "neural message to {Peer} not sent: {Reason}")]
    internal partial void LogSendFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "dropped a {Type} message from {Peer}: {Reason} ({Detail})")]
    private partial void LogDropped(string type, PeerId? peer, string reason, string? detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "a handler of {Type} messages failed")]
    private partial void LogHandlerFailed(string type, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "neural stream from {Peer} reset: no whole frame within {Timeout}")]
    private partial void LogIdleStream(PeerId peer, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Debug, Message = "agent {Agent} record not published: {Reason}")]
    private partial void LogPublishFailed(string agent, string reason);
}
