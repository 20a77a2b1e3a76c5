using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Neural;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// DAG consensus on a node: one <see cref="DagEngine"/> driven by a single loop (messages, proposals, timers in
/// order), its messages carried as signed neural envelopes (<see cref="DagWire"/>) over <see cref="NeuralMesh"/>,
/// its DAG persisted in SQLite, its voters a validator set or the peers announcing themselves on the DAG's swarm.
/// Events are raised, and watchers fed, from a dispatcher of their own, so a slow handler never stalls voting.
/// </summary>
public sealed partial class DagConsensus : IDagConsensus, IAsyncDisposable
{
    private readonly NeuralMesh _mesh;
    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<LoopItem> _inbox;
    private readonly Channel<DagEvent> _events;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _watchersGate = new();
    private readonly List<DagWatcher> _watchers = [];
    private readonly Dictionary<VertexId, TaskCompletionSource<DagDecision>> _waiters = [];
    private readonly SemaphoreSlim _sends;
    // Released to announce before the interval is up (a new member appeared).
    private readonly SemaphoreSlim _announceNow = new(0, 1);
    private readonly IDagMembership _membership;
    private readonly AnnouncedMembership? _announced;
    private readonly IDagStore? _injectedStore;
    private readonly Random _random;
    private IDagStore? _store;
    private DagEngine? _engine;
    private Task _loop = Task.CompletedTask;
    private Task _dispatcher = Task.CompletedTask;
    private Task _announcer = Task.CompletedTask;
    private volatile DagCounters _counters = new();
    private (int Processing, int Pending, int Members) _gauges;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _decodeRefused = new(StringComparer.Ordinal);
    private long _inboxDropped;
    private long _sendsLimited;
    private long _sendsFailed;
    private int _started;
    private int _disposed;

    /// <param name="store">The DAG store; null: SQLite at <see cref="DagConsensusOptions.DatabasePath"/>, or memory.</param>
    public DagConsensus(NeuralMesh mesh, IPeerHost host, ILocalIdentity identity, IOptions<DagConsensusOptions> options,
        ILogger<DagConsensus>? logger = null, TimeProvider? time = null, IMeterFactory? meterFactory = null, IDagStore? store = null)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Value;
        Options.Validate();
        _mesh = mesh;
        _host = host;
        _identity = identity;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _injectedStore = store;
        _random = new Random(System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MaxValue));
        _inbox = Channel.CreateBounded<LoopItem>(new BoundedChannelOptions(Options.InboxCapacity) { SingleReader = true });
        _events = Channel.CreateUnbounded<DagEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        _sends = new SemaphoreSlim(Options.MaxConcurrentSends, Options.MaxConcurrentSends);
        if (Options.Validators.Count > 0)
        {
            _membership = new StaticMembership(Options.Validators);
        }
        else
        {
            _announced = new AnnouncedMembership(mesh.LocalPeer, Options.MaxMembers);
            _membership = _announced;
        }
        Metrics = new DagMetrics(meterFactory, () => _counters, () => _gauges);
    }

    public DagConsensusOptions Options { get; }

    public PeerId LocalPeer => _mesh.LocalPeer;

    /// <summary>Whether the voters are a configured validator set (else: announced on the swarm).</summary>
    public bool HasValidatorSet => _announced is null;

    internal DagMetrics Metrics { get; }

    private DateTimeOffset Now => _time.GetUtcNow();

    public event EventHandler<DagDecisionEventArgs>? Accepted;

    public event EventHandler<DagDecisionEventArgs>? Rejected;

    public event EventHandler<DagDecisionEventArgs>? Finalized;

    public event EventHandler<EquivocationEventArgs>? EquivocationDetected;

    /// <summary>Opens the store, loads the DAG, starts the loop; with open membership, joins the swarm and announces.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        _store = _injectedStore ?? (Options.DatabasePath is { } path ? new SqliteDagStore(path) : new MemoryDagStore());
        _engine = new DagEngine(Options, _identity.PrivateKey, _membership, new NeuralOutbox(this), _store, new Observer(this), _random, Now);
        UpdateGauges();
        _loop = Task.Run(LoopAsync, CancellationToken.None);
        _dispatcher = Task.Run(DispatchAsync, CancellationToken.None);
        if (_announced is not null)
        {
            await _mesh.JoinSwarmAsync(Options.SwarmName, cancellationToken).ConfigureAwait(false);
            _announcer = Task.Run(() => AnnounceLoopAsync(_lifetime.Token), CancellationToken.None);
        }
        LogStarted(Options.Name, _engine.VertexCount, _engine.AcceptedCount, HasValidatorSet ? "validator set" : $"swarm {Options.SwarmName}");
    }

    public async Task<DagProposal> ProposeAsync(ReadOnlyMemory<byte> payload, IReadOnlyCollection<ConflictKey>? conflictKeys = null,
        CancellationToken cancellationToken = default)
    {
        var keys = conflictKeys?.ToArray() ?? [];
        return await RunOnLoopAsync(engine =>
        {
            var vertex = engine.Propose(payload.Span, keys, Now);
            var waiter = new TaskCompletionSource<DagDecision>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (engine.Find(vertex.Id) is { Status: VertexStatus.Accepted or VertexStatus.Rejected } info)
                waiter.TrySetResult(new DagDecision(vertex, info.Status!.Value, info.FirstSeen, info.DecidedAt ?? info.FirstSeen, true));
            else if (_waiters.TryGetValue(vertex.Id, out var existing)) waiter = existing; // the same proposal twice
            else _waiters[vertex.Id] = waiter;
            return new DagProposal(vertex, waiter.Task);
        }, cancellationToken).ConfigureAwait(false);
    }

    public Task<DagStatus> GetStatusAsync(CancellationToken cancellationToken = default) => RunOnLoopAsync(engine =>
    {
        var snapshot = engine.Snapshot(Options.MaxFrontierIds);
        return new DagStatus(Options.Name, HasValidatorSet ? "validators" : "swarm", snapshot.Members, snapshot.Frontier, snapshot.Tips,
            snapshot.Accepted, snapshot.Rejected, snapshot.Processing, snapshot.Pending, snapshot.Vertices, snapshot.OutstandingPolls,
            [.. _store!.LoadEquivocations(Options)], snapshot.Counters, new Dictionary<string, long>(_decodeRefused, StringComparer.Ordinal),
            Interlocked.Read(ref _inboxDropped), Interlocked.Read(ref _sendsLimited), Interlocked.Read(ref _sendsFailed), snapshot.Undecided);
    }, cancellationToken);

    public Task<VertexInfo?> GetVertexAsync(VertexId id, CancellationToken cancellationToken = default) =>
        RunOnLoopAsync(engine => engine.Find(id), cancellationToken);

    /// <summary>Vertices whose id starts with <paramref name="hexPrefix"/> (for abbreviated ids), at most <paramref name="max"/>.</summary>
    public Task<IReadOnlyList<VertexId>> FindByPrefixAsync(string hexPrefix, int max, CancellationToken cancellationToken = default) =>
        RunOnLoopAsync<IReadOnlyList<VertexId>>(engine =>
            [.. engine.Vertices.Select(v => v.Vertex.Id).Where(id => id.ToString().StartsWith(hexPrefix, StringComparison.OrdinalIgnoreCase)).Take(max)],
            cancellationToken);

    public DagWatcher Watch()
    {
        lock (_watchersGate)
        {
            if (_watchers.Count >= Options.MaxWatchers) throw new ResourceLimitExceededException("dag consensus", "watchers", Options.MaxWatchers);
            var watcher = new DagWatcher(Options.WatcherCapacity, w =>
            {
                lock (_watchersGate) _watchers.Remove(w);
            });
            _watchers.Add(watcher);
            return watcher;
        }
    }

    /// <summary>A DAG message from the neural mesh (the handlers' entry). Never blocks: a full inbox drops it.</summary>
    internal void Deliver(PeerId from, DagMessage message, bool viaSwarm)
    {
        if (viaSwarm)
        {
            // The swarm carries announcements only; everything else is a direct message.
            if (message.KindCase != DagMessage.KindOneofCase.Announce)
            {
                Refuse(DagRefusal.Malformed, from, $"a {message.KindCase} message on the membership swarm");
                return;
            }
        }
        else if (message.KindCase == DagMessage.KindOneofCase.Announce)
        {
            Refuse(DagRefusal.Malformed, from, "an announcement sent directly");
            return;
        }
        if (!_inbox.Writer.TryWrite(new NetworkItem(from, message)))
        {
            Interlocked.Increment(ref _inboxDropped);
            Metrics.Dropped("inbox_full");
        }
    }

    /// <summary>A message that failed to decode before reaching the engine (counted like the engine's refusals).</summary>
    internal void Refuse(DagRefusal reason, PeerId? from, string detail)
    {
        _decodeRefused.AddOrUpdate(reason.Label(), 1, (_, n) => n + 1);
        Metrics.Refused(reason);
        LogRefused(reason.Label(), from, detail);
    }

    private async Task<T> RunOnLoopAsync<T>(Func<DagEngine, T> work, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_engine is null) throw new InvalidOperationException("DAG consensus has not started");
        var item = new WorkItem(engine => work(engine));
        await _inbox.Writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
        return (T)(await item.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false))!;
    }

    private async Task LoopAsync()
    {
        var engine = _engine!;
        var token = _lifetime.Token;
        var reader = _inbox.Reader;
        var lastExpiry = Now;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var now = Now;
                var due = engine.GetNextDeadline();
                if (_announced is not null && now - lastExpiry >= TimeSpan.FromSeconds(1))
                {
                    _announced.Expire(now);
                    lastExpiry = now;
                }
                if (due is null || due > now)
                {
                    // Wake for the next item, the next deadline, or (open membership) the next expiry check.
                    var wait = due is { } d ? d - now : Timeout.InfiniteTimeSpan;
                    if (_announced is not null && (wait == Timeout.InfiniteTimeSpan || wait > TimeSpan.FromSeconds(1))) wait = TimeSpan.FromSeconds(1);
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                    if (wait != Timeout.InfiniteTimeSpan) timeout.CancelAfter(wait);
                    try
                    {
                        await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!token.IsCancellationRequested)
                    {
                    }
                }
                for (int handled = 0; handled < 256 && reader.TryRead(out var item); handled++) Handle(engine, item);
                if (engine.GetNextDeadline() is { } next && next <= Now) Step(() => engine.Tick(Now));
                UpdateGauges();
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private void Handle(DagEngine engine, LoopItem item)
    {
        switch (item)
        {
            case NetworkItem network when network.Message.KindCase == DagMessage.KindOneofCase.Announce:
                OnAnnounce(network.From, network.Message.Announce);
                break;
            case NetworkItem network:
                Step(() => engine.Receive(network.From, network.Message, Now));
                break;
            case WorkItem work:
                try
                {
                    work.Result.TrySetResult(work.Run(engine));
                }
                catch (Exception e)
                {
                    work.Result.TrySetException(e);
                }
                break;
        }
    }

    private void OnAnnounce(PeerId from, Announce announce)
    {
        if (_announced is null || from == LocalPeer) return;
        var ttl = TimeSpan.FromSeconds(Math.Clamp(announce.TtlSeconds, 1, Options.MemberTtl.TotalSeconds));
        bool known = _announced.Contains(from);
        if (!_announced.Announce(from, Now + ttl))
        {
            Refuse(DagRefusal.MembershipFull, from, "the member table is full");
            return;
        }
        // The announcement is signed by the member itself: its addresses are where it says it can be dialled.
        var addresses = new List<Addressing.Multiaddr>();
        foreach (var bytes in announce.Addresses.Take(Options.MaxAnnouncedAddresses))
        {
            try
            {
                addresses.Add(Addressing.Multiaddr.Decode(bytes.Span));
            }
            catch (P2PFormatException e)
            {
                Refuse(DagRefusal.Malformed, from, $"announced address does not decode: {e.Message}");
            }
        }
        if (addresses.Count > 0) _host.PeerStore.AddAddresses(from, addresses, ttl);
        // A newcomer learns about this node at once rather than at the next interval.
        if (!known && _announceNow.CurrentCount == 0) _announceNow.Release();
    }

    // An engine bug must not kill the loop: log it and go on with the next item.
    private void Step(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            LogEngineFailed(e);
        }
    }

    private void UpdateGauges()
    {
        var engine = _engine!;
        _gauges = (engine.ProcessingCount, engine.PendingCount, _membership.CountOthers(LocalPeer) + 1);
        _counters = engine.Counters.Clone();
    }

    private async Task DispatchAsync()
    {
        try
        {
            await foreach (var e in _events.Reader.ReadAllAsync(_lifetime.Token).ConfigureAwait(false))
            {
                try
                {
                    switch (e.Kind)
                    {
                        case DagEventKind.Accepted:
                            Accepted?.Invoke(this, new DagDecisionEventArgs(e.Decision!));
                            Finalized?.Invoke(this, new DagDecisionEventArgs(e.Decision!));
                            break;
                        case DagEventKind.Rejected:
                            Rejected?.Invoke(this, new DagDecisionEventArgs(e.Decision!));
                            Finalized?.Invoke(this, new DagDecisionEventArgs(e.Decision!));
                            break;
                        case DagEventKind.Equivocation:
                            EquivocationDetected?.Invoke(this, new EquivocationEventArgs(e.Proof!));
                            break;
                    }
                }
                catch (Exception error)
                {
                    LogHandlerFailed(error);
                }
                lock (_watchersGate)
                {
                    foreach (var watcher in _watchers) watcher.Offer(e);
                }
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
        }
    }

    private async Task AnnounceLoopAsync(CancellationToken cancellationToken)
    {
        var send = new SendOptions { Priority = Options.AnnouncePriority, Ttl = Options.AnnounceInterval < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : Options.AnnounceInterval };
        try
        {
            var minimumGap = TimeSpan.FromTicks(Math.Min(Options.AnnounceInterval.Ticks, TimeSpan.TicksPerSecond));
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    var announce = new Announce { TtlSeconds = (uint)Math.Ceiling(Options.MemberTtl.TotalSeconds) };
                    foreach (var address in _host.AdvertisedAddresses.Take(Options.MaxAnnouncedAddresses))
                        announce.Addresses.Add(Google.Protobuf.ByteString.CopyFrom(address.ToBytes()));
                    var body = (Neural.Messages.ConsensusProposal)DagWire.ToBody(new DagMessage { Announce = announce }, Options.ProtocolTag);
                    await _mesh.PublishAsync(Options.SwarmName, body, send, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogAnnounceFailed(e.Message);
                }
                // At most one announcement per second however many members appear; otherwise every interval.
                await Task.Delay(minimumGap, _time, cancellationToken).ConfigureAwait(false);
                await _announceNow.WaitAsync(Options.AnnounceInterval - minimumGap, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Test seam for byzantine doubles on real hosts: rewrites (or drops, with null) what the engine sends.</summary>
    internal Func<PeerId, DagMessage, DagMessage?>? OutboundFilter { get; set; }

    private void Send(PeerId to, DagMessage message)
    {
        if (OutboundFilter is { } filter)
        {
            if (filter(to, message) is not { } kept) return;
            message = kept;
        }
        if (!_sends.Wait(0))
        {
            Interlocked.Increment(ref _sendsLimited);
            Metrics.Dropped("send_limit");
            return;
        }
        _ = SendAsync(to, message);
    }

    // The slot is held until the neural mesh has queued the message (its per-peer queue bounds what waits for a
    // stream); whether it was then written is followed without holding a slot.
    private async Task SendAsync(PeerId to, DagMessage message)
    {
        try
        {
            var body = DagWire.ToBody(message, Options.ProtocolTag);
            var priority = message.KindCase is DagMessage.KindOneofCase.Query or DagMessage.KindOneofCase.Votes ? Options.VotePriority : Options.FetchPriority;
            var posted = await _mesh.PostAsync(NeuralDestination.ToPeer(to), body, new SendOptions { Priority = priority, Ttl = Options.MessageTtl, Seal = Options.SealMessages },
                _lifetime.Token).ConfigureAwait(false);
            _ = posted.Sent.ContinueWith(static (sent, state) =>
            {
                var (owner, peer) = ((DagConsensus, PeerId))state!;
                if (sent.IsFaulted) owner.SendFailed(peer, sent.Exception!.GetBaseException());
            }, (this, to), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_lifetime.IsCancellationRequested)
        {
            SendFailed(to, e);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _sends.Release();
        }
    }

    // A peer that cannot be reached is a member that does not answer: the poll counts it as silent.
    private void SendFailed(PeerId to, Exception e)
    {
        if (e is OperationCanceledException && _lifetime.IsCancellationRequested) return;
        Interlocked.Increment(ref _sendsFailed);
        Metrics.Dropped("send_failed");
        LogSendFailed(to, e.Message);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _lifetime.CancelAsync().ConfigureAwait(false);
        _inbox.Writer.TryComplete();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _announcer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _events.Writer.TryComplete();
        await _dispatcher.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        while (_inbox.Reader.TryRead(out var item))
            if (item is WorkItem work) work.Result.TrySetException(new ObjectDisposedException(nameof(DagConsensus)));
        foreach (var waiter in _waiters.Values) waiter.TrySetCanceled();
        _waiters.Clear();
        DagWatcher[] watchers;
        lock (_watchersGate) watchers = [.. _watchers];
        foreach (var watcher in watchers) watcher.Dispose();
        if (_injectedStore is null) (_store as IDisposable)?.Dispose();
        Metrics.Dispose();
        _lifetime.Dispose();
    }

    private abstract record LoopItem;

    private sealed record NetworkItem(PeerId From, DagMessage Message) : LoopItem;

    private sealed record WorkItem(Func<DagEngine, object?> Run) : LoopItem
    {
        public TaskCompletionSource<object?> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The engine's outbox: every message becomes a signed neural envelope to the peer.</summary>
    private sealed class NeuralOutbox(DagConsensus owner) : IDagOutbox
    {
        public void Send(PeerId to, DagMessage message) => owner.Send(to, message);
    }

    /// <summary>Runs on the loop: hands events to the dispatcher, completes proposals, counts refusals.</summary>
    private sealed class Observer(DagConsensus owner) : IDagEngineObserver
    {
        public void OnAdded(DagVertex vertex, VertexStatus status, bool local)
        {
            if (status == VertexStatus.Processing) owner._events.Writer.TryWrite(new DagEvent(DagEventKind.Added, vertex, owner.Now));
        }

        public void OnDecided(DagDecision decision)
        {
            owner.Metrics.Decided(decision);
            if (owner._waiters.Remove(decision.Id, out var waiter)) waiter.TrySetResult(decision);
            var kind = decision.Outcome == VertexStatus.Accepted ? DagEventKind.Accepted : DagEventKind.Rejected;
            owner._events.Writer.TryWrite(new DagEvent(kind, decision.Vertex, decision.DecidedAt, decision));
        }

        public void OnEquivocation(EquivocationProof proof)
        {
            owner.Metrics.Equivocation();
            owner.LogEquivocation(proof.Author, proof.Key.ToString(), proof.First.Id.ToString(), proof.Second.Id.ToString());
            owner._events.Writer.TryWrite(new DagEvent(DagEventKind.Equivocation, proof.Second, proof.DetectedAt, Proof: proof));
        }

        public void OnRefused(DagRefusal reason, PeerId? from, string detail)
        {
            owner.Metrics.Refused(reason);
            owner.LogRefused(reason.Label(), from, detail);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "DAG {Name} started: {Vertices} vertices loaded ({Accepted} accepted), voters: {Membership}")]
    private partial void LogStarted(string name, int vertices, long accepted, string membership);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DAG input refused ({Reason}) from {Peer}: {Detail}")]
    private partial void LogRefused(string reason, PeerId? peer, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "equivocation by {Author}: vertices {First} and {Second} both spend conflict key '{Key}'")]
    private partial void LogEquivocation(PeerId author, string key, string first, string second);

    [LoggerMessage(Level = LogLevel.Error, Message = "the DAG engine failed on one input (skipped)")]
    private partial void LogEngineFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "a DAG event handler failed")]
    private partial void LogHandlerFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DAG message to {Peer} not sent: {Reason}")]
    private partial void LogSendFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "DAG membership announcement not published: {Reason}")]
    private partial void LogAnnounceFailed(string reason);
}
