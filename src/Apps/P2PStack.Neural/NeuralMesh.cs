using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
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
public sealed partial class NeuralMesh : IAsyncDisposable
{
    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ReplayGuard _replay;
    private readonly Channel<Delivery> _inbound;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _queuesGate = new();
    private readonly Dictionary<PeerId, PeerSendQueue> _queues = [];
    private readonly Lock _listenersGate = new();
    private readonly List<NeuralListener> _listeners = [];
    private readonly ConcurrentDictionary<UInt128, PendingCommand> _pending = new();
    private readonly SemaphoreSlim _commandSlots;
    private readonly Task _dispatchLoop;
    private int _disposed;

    public NeuralMesh(IPeerHost host, ILocalIdentity identity, IOptions<NeuralMeshOptions> options, IServiceProvider services,
        ILogger<NeuralMesh>? logger = null, TimeProvider? time = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(services);
        Options = options.Value;
        Options.Validate();
        _host = host;
        _identity = identity;
        _services = services;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _replay = new ReplayGuard(Options.ReplayCacheCapacity, Options.ReplayCacheCapacityPerSource);
        _inbound = Channel.CreateBounded<Delivery>(new BoundedChannelOptions(Options.InboundQueueCapacity) { SingleReader = true });
        _commandSlots = new SemaphoreSlim(Options.MaxConcurrentCommands, Options.MaxConcurrentCommands);
        _agentCache = new AgentCache(Options.AgentCacheCapacity);
        Metrics = new NeuralMetrics(meterFactory, () => TotalQueued, () => _pending.Count);
        _dispatchLoop = Task.Run(DispatchLoopAsync);
    }

    public NeuralMeshOptions Options { get; }

    public PeerId LocalPeer => _identity.PeerId;

    internal NeuralMetrics Metrics { get; }

    internal DateTimeOffset Now => _time.GetUtcNow();

    private KademliaDht? Dht => _services.GetService<KademliaDht>();

    private GossipSubService? Gossip => _services.GetService<GossipSubService>();

    private long TotalQueued
    {
        get
        {
            lock (_queuesGate) return _queues.Values.Sum(q => (long)q.Depth);
        }
    }

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

    /// <summary>Messages waiting in the send queue of <paramref name="peer"/>.</summary>
    public int QueueDepth(PeerId peer)
    {
        lock (_queuesGate) return _queues.TryGetValue(peer, out var queue) ? queue.Depth : 0;
    }

    /// <summary>
    /// A live feed of delivered messages; <paramref name="agent"/> keeps only those addressed to that agent. A slow
    /// reader loses the oldest messages (counted in <see cref="NeuralListener.Dropped"/>). Dispose to stop.
    /// </summary>
    /// <exception cref="ResourceLimitExceededException">Too many listeners.</exception>
    public NeuralListener Listen(string? agent = null)
    {
        if (agent is not null) NeuralProtocol.ValidateName(agent, "agent");
        lock (_listenersGate)
        {
            if (_listeners.Count >= Options.MaxListeners) throw new ResourceLimitExceededException("neural mesh", "listeners", Options.MaxListeners);
            var listener = new NeuralListener(agent, Options.ListenerCapacity, RemoveListener);
            _listeners.Add(listener);
            return listener;
        }
    }

    private void RemoveListener(NeuralListener listener)
    {
        lock (_listenersGate) _listeners.Remove(listener);
    }

    private void NotifyListeners(ReceivedMessage message)
    {
        lock (_listenersGate)
        {
            foreach (var listener in _listeners) listener.Offer(message);
        }
    }

    // Send queues: one per destination peer, retired when idle.

    private PeerSendQueue AcquireQueue(PeerId peer)
    {
        lock (_queuesGate)
        {
            ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
            if (!_queues.TryGetValue(peer, out var queue))
                _queues[peer] = queue = new PeerSendQueue(this, peer, Options.PeerQueueCapacity, _lifetime.Token);
            queue.PendingWriters++;
            return queue;
        }
    }

    private void ReleaseQueue(PeerSendQueue queue)
    {
        lock (_queuesGate) queue.PendingWriters--;
    }

    internal bool TryRetireQueue(PeerSendQueue queue)
    {
        lock (_queuesGate)
        {
            if (!queue.TryRetire()) return false;
            if (_queues.TryGetValue(queue.Peer, out var current) && current == queue) _queues.Remove(queue.Peer);
            return true;
        }
    }

    /// <summary>Dials when needed (finding the peer's addresses in the DHT if nobody knows them) and opens a stream.</summary>
    internal Task<IStream> OpenStreamAsync(PeerId peer, CancellationToken cancellationToken) =>
        OpenStreamAsync(peer, NeuralProtocol.ProtocolId, cancellationToken);

    internal async Task<IStream> OpenStreamAsync(PeerId peer, string protocol, CancellationToken cancellationToken)
    {
        if (_host.GetConnections(peer).Count == 0 && _host.PeerStore.GetAddresses(peer).Count == 0 && Dht is { } dht)
        {
            var info = await dht.FindPeerAsync(peer, cancellationToken).ConfigureAwait(false);
            _host.PeerStore.AddAddresses(peer, info.Addresses, Options.AgentCacheTtl);
        }
        return await _host.OpenStreamAsync(peer, [protocol], cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        _inbound.Writer.TryComplete();
        await _dispatchLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
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

    private sealed record Delivery(VerifiedMessage Message, DateTimeOffset ReceivedAt);

    private sealed record PendingCommand(PeerId ExpectedPeer, TaskCompletionSource<ReceivedMessage<Messages.Response>> Completion);

    [LoggerMessage(Level = LogLevel.Debug, Message = "neural message to {Peer} not sent: {Reason}")]
    internal partial void LogSendFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "dropped a {Type} message from {Peer}: {Reason} ({Detail})")]
    private partial void LogDropped(string type, PeerId? peer, string reason, string? detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "a handler of {Type} messages failed")]
    private partial void LogHandlerFailed(string type, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "agent {Agent} record not published: {Reason}")]
    private partial void LogPublishFailed(string agent, string reason);
}
