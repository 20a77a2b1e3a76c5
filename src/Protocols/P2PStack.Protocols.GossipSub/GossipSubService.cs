using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub.Pb;
using P2PStack.Records;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// GossipSub on a host: subscribe, publish, validate, inspect meshes and scores. Speaks /meshsub/1.2.0, 1.1.0, 1.0.0
/// and falls back to /floodsub/1.0.0. One long-lived outbound stream per peer carries our RPCs; the peer's inbound
/// stream carries theirs.
/// </summary>
public sealed partial class GossipSubService : IGossipSubRouterHost, IAsyncDisposable
{
    /// <summary>Messages a subscription buffers before dropping new ones.</summary>
    public const int SubscriptionCapacity = 1024;

    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly GossipSubOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly GossipSubRouter _router;
    private readonly GossipSubMetrics _metrics;
    private readonly IResourceScope? _memory;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<Subscription>> _subscriptions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ImmutableValidators> _validators = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _lifetime = new();
    private readonly List<IDisposable> _eventSubscriptions = [];
    private readonly Task _heartbeatLoop;
    private long _sequenceNumber;
    private int _validating;
    private int _pendingConnects;

    public GossipSubService(IPeerHost host, ILocalIdentity identity, IOptions<GossipSubOptions> options,
        ILogger<GossipSubService>? logger = null, TimeProvider? time = null, IMeterFactory? meterFactory = null,
        IResourceManager? resources = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(identity);
        _host = host;
        _identity = identity;
        _options = options.Value;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _metrics = new GossipSubMetrics(meterFactory);
        _memory = resources?.Service(ResourceService);
        _router = new GossipSubRouter(_options, identity.PeerId, this, _time, new Random(), _logger) { Metrics = _metrics };
        // Unique across restarts without persisted state: start from the clock in nanoseconds, as go does.
        _sequenceNumber = _time.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000;
        foreach (var (peer, addresses) in _options.DirectPeers)
        {
            host.PeerStore.AddAddresses(peer, addresses, TimeSpan.FromDays(365));
            host.ConnectionManager.Protect(peer, "gossipsub-direct");
        }
        _eventSubscriptions.Add(host.Events.Subscribe<PeerConnected>(e => EnsureOutboundStream(e.Connection.RemotePeer)));
        _eventSubscriptions.Add(host.Events.Subscribe<PeerIdentified>(OnPeerIdentified));
        _eventSubscriptions.Add(host.Events.Subscribe<PeerDisconnected>(e => OnPeerDisconnected(e.Connection.RemotePeer)));
        foreach (var connection in host.GetConnections()) EnsureOutboundStream(connection.RemotePeer);
        _heartbeatLoop = HeartbeatLoopAsync(_lifetime.Token);
    }

    /// <summary>The resource manager's service scope the queues reserve their memory in.</summary>
    public const string ResourceService = "gossipsub";

    public PeerId LocalPeer => _identity.PeerId;

    /// <summary>Subscribes to a topic (joining its mesh on the first subscription).</summary>
    /// <exception cref="InvalidOperationException">The local subscription limit is reached.</exception>
    public Task<Subscription> SubscribeAsync(string topic, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        cancellationToken.ThrowIfCancellationRequested();
        var subscription = new Subscription(topic, SubscriptionCapacity, Unsubscribe);
        lock (_gate)
        {
            _router.Join(topic);
            if (!_subscriptions.TryGetValue(topic, out var list)) _subscriptions[topic] = list = [];
            list.Add(subscription);
        }
        return Task.FromResult(subscription);
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (_gate)
        {
            if (!_subscriptions.TryGetValue(subscription.Topic, out var list) || !list.Remove(subscription)) return;
            if (list.Count > 0) return;
            _subscriptions.Remove(subscription.Topic);
            _router.Leave(subscription.Topic);
        }
    }

    /// <summary>Publishes <paramref name="data"/> to the topic (signed per the policy, validated locally first).</summary>
    /// <exception cref="ArgumentException">The message is over <see cref="GossipSubOptions.MaxMessageSize"/>.</exception>
    /// <exception cref="MessageRejectedException">A local validator rejected or ignored it.</exception>
    public async Task<MessageId> PublishAsync(string topic, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        var message = _options.SignaturePolicy == SignaturePolicy.StrictSign
            ? MessageSigning.CreateSigned(topic, data.Span, _identity.PrivateKey, (ulong)Interlocked.Increment(ref _sequenceNumber))
            : MessageSigning.CreateUnsigned(topic, data.Span);
        int size = message.CalculateSize();
        if (size > _options.MaxMessageSize || size + 16 > _options.MaxRpcSize)
            throw new ArgumentException($"message of {size} bytes is over the limit ({Math.Min(_options.MaxMessageSize, _options.MaxRpcSize - 16)})", nameof(data));
        if (_validators.TryGetValue(topic, out var validators))
        {
            MessageId id;
            lock (_gate) id = _router.ComputeId(message);
            var local = new PubSubMessage(id, message, LocalPeer, message.HasFrom ? LocalPeer : null);
            var verdict = await RunValidatorsAsync(validators, local, cancellationToken).ConfigureAwait(false);
            if (verdict != ValidationResult.Accept) throw new MessageRejectedException(topic, verdict);
        }
        MessageId published;
        lock (_gate) published = _router.Publish(message);
        _metrics.Published();
        return published;
    }

    /// <summary>
    /// Adds an application validator for the topic; every validator must accept a message before it is delivered or
    /// forwarded. Validators run concurrently with other messages, under <see cref="GossipSubOptions.ValidationTimeout"/>
    /// (a timeout counts as Ignore). Dispose the result to remove it.
    /// </summary>
    public IDisposable RegisterValidator(string topic, Func<PubSubMessage, CancellationToken, ValueTask<ValidationResult>> validator)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentNullException.ThrowIfNull(validator);
        _validators.AddOrUpdate(topic, _ => new ImmutableValidators([validator]), (_, v) => new ImmutableValidators([.. v.Items, validator]));
        return new Registration(() =>
        {
            var left = _validators.AddOrUpdate(topic, _ => new ImmutableValidators([]),
                (_, v) => new ImmutableValidators([.. v.Items.Where(x => x != validator)]));
            // The last one gone, the topic goes too (unless another was registered meanwhile): topics come from remote
            // input (a signaling host validates each swarm a light peer asks it to relay), so none may stay for ever.
            if (left.Items.Length == 0) _validators.TryRemove(KeyValuePair.Create(topic, left));
        });
    }

    /// <summary>Synchronous form of <see cref="RegisterValidator(string, Func{PubSubMessage, CancellationToken, ValueTask{ValidationResult}})"/>.</summary>
    public IDisposable RegisterValidator(string topic, Func<PubSubMessage, ValidationResult> validator)
    {
        ArgumentNullException.ThrowIfNull(validator);
        return RegisterValidator(topic, (m, _) => ValueTask.FromResult(validator(m)));
    }

    /// <summary>Topics with validators registered (tests: registrations must not outlive their disposal).</summary>
    internal int ValidatedTopicCount => _validators.Count;

    public IReadOnlyCollection<PeerId> GetMeshPeers(string topic)
    {
        lock (_gate) return _router.GetMeshPeers(topic);
    }

    /// <summary>Every peer with a pubsub stream.</summary>
    public IReadOnlyCollection<PeerId> GetPeers()
    {
        lock (_gate) return [.. _router.Peers];
    }

    /// <summary>Peers known to be subscribed to the topic.</summary>
    public IReadOnlyCollection<PeerId> GetPeers(string topic)
    {
        lock (_gate) return _router.GetTopicPeers(topic);
    }

    public IReadOnlyCollection<string> GetTopics()
    {
        lock (_gate) return [.. _router.Subscriptions];
    }

    /// <summary>Counts of messages received from peers: new ones and duplicates of ones already seen.</summary>
    public (long First, long Duplicates) GetReceivedCounts()
    {
        lock (_gate) return (_router.FirstMessages, _router.DuplicateMessages);
    }

    public double GetScore(PeerId peer)
    {
        lock (_gate) return _router.GetScore(peer);
    }

    /// <summary>Scores of all peers with a pubsub stream.</summary>
    public IReadOnlyDictionary<PeerId, double> GetScores()
    {
        lock (_gate) return _router.Peers.ToDictionary(p => p, _router.GetScore);
    }

    // IGossipSubRouterHost: called by the router under _gate.

    void IGossipSubRouterHost.Send(PeerId peer, RPC rpc) => EnqueueRpc(peer, rpc);

    void IGossipSubRouterHost.Deliver(PubSubMessage message)
    {
        if (!_subscriptions.TryGetValue(message.Topic, out var list)) return;
        if (message.ReceivedFrom != LocalPeer) _metrics.Delivered();
        foreach (var subscription in list) subscription.Offer(message);
    }

    ValidationResult? IGossipSubRouterHost.BeginValidation(PendingMessage pending)
    {
        if (!_validators.TryGetValue(pending.Topic, out var validators) || validators.Items.Length == 0) return ValidationResult.Accept;
        if (Interlocked.Increment(ref _validating) > _options.MaxConcurrentValidations)
        {
            Interlocked.Decrement(ref _validating);
            LogValidationThrottled(pending.ReceivedFrom, pending.Topic);
            return ValidationResult.Ignore;
        }
        // Off the router's lock: validators are application code and may take their time.
        _ = Task.Run(async () =>
        {
            var result = ValidationResult.Ignore;
            try
            {
                var message = new PubSubMessage(pending.Id, pending.Message, pending.ReceivedFrom, pending.Author);
                result = await RunValidatorsAsync(validators, message, _lifetime.Token).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _validating);
            }
            lock (_gate) _router.CompleteValidation(pending, result);
        });
        return null;
    }

    private async Task<ValidationResult> RunValidatorsAsync(ImmutableValidators validators, PubSubMessage message, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ValidationTimeout);
        var result = ValidationResult.Accept;
        foreach (var validator in validators.Items)
        {
            try
            {
                var verdict = await validator(message, timeout.Token).ConfigureAwait(false);
                if (verdict == ValidationResult.Reject) return verdict;
                if (verdict == ValidationResult.Ignore) result = verdict;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                LogValidationTimedOut(message.Topic, message.ReceivedFrom);
                return ValidationResult.Ignore;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A failing validator is an application bug, not the sender's fault: ignore without penalty.
                LogValidatorFailed(message.Topic, e);
                return ValidationResult.Ignore;
            }
        }
        return result;
    }

    void IGossipSubRouterHost.Connect(PeerId peer, SignedEnvelope? record)
    {
        if (record is not null)
        {
            try
            {
                _host.PeerStore.ConsumePeerRecord(record, PeerRecord.FromEnvelope(record), TimeSpan.FromMinutes(30));
            }
            catch (Exception e) when (e is P2PFormatException or ArgumentException)
            {
                return;
            }
        }
        if (Interlocked.Increment(ref _pendingConnects) > _options.MaxPendingConnections)
        {
            Interlocked.Decrement(ref _pendingConnects);
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
                timeout.CancelAfter(_options.ConnectionTimeout);
                await _host.DialAsync(peer, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogConnectFailed(peer, e.Message);
            }
            finally
            {
                Interlocked.Decrement(ref _pendingConnects);
            }
        });
    }

    byte[]? IGossipSubRouterHost.GetSignedPeerRecord(PeerId peer) => _host.PeerStore.GetPeerRecord(peer)?.ToBytes();

    void IGossipSubRouterHost.MeshChanged(PeerId peer, string topic, bool inMesh)
    {
        _metrics.MeshChanged(topic, inMesh);
        string tag = "gossipsub:" + topic;
        if (inMesh) _host.ConnectionManager.TagPeer(peer, tag, 20);
        else _host.ConnectionManager.UntagPeer(peer, tag);
    }

    public async ValueTask DisposeAsync()
    {
        if (_lifetime.IsCancellationRequested) return;
        _lifetime.Cancel();
        foreach (var subscription in _eventSubscriptions) subscription.Dispose();
        try { await _heartbeatLoop.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        List<PeerLink> links;
        lock (_gate) links = [.. _links.Values];
        foreach (var link in links) link.Close();
        _lifetime.Dispose();
        _metrics.Dispose();
    }

    private sealed record ImmutableValidators(Func<PubSubMessage, CancellationToken, ValueTask<ValidationResult>>[] Items);

    private sealed class Registration(Action dispose) : IDisposable
    {
        private Action? _dispose = dispose;

        public void Dispose() => Interlocked.Exchange(ref _dispose, null)?.Invoke();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "validation throttled: dropping a message from {Peer} in {Topic}")]
    private partial void LogValidationThrottled(PeerId peer, string topic);

    [LoggerMessage(Level = LogLevel.Debug, Message = "validation of a message in {Topic} from {Peer} timed out")]
    private partial void LogValidationTimedOut(string topic, PeerId peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "a validator of {Topic} threw; ignoring the message")]
    private partial void LogValidatorFailed(string topic, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "could not connect to {Peer}: {Reason}")]
    private partial void LogConnectFailed(PeerId peer, string reason);
}
