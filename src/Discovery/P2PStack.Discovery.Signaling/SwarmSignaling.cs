using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Discovery.Signaling.Pb;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;
using P2PStack.Records;

namespace P2PStack.Discovery.Signaling;

/// <summary>
/// Swarm signaling (docs/specs/swarm-signaling.md): join and leave swarms by discovery key, announce presence with an
/// expiry over gossipsub and again every announce interval, announce back when a newcomer appears, and report
/// <see cref="PeerAvailable"/> and <see cref="PeerLeft"/> (an announced departure, or the expiry of a peer that stopped
/// announcing). Only the swarm id, a hash of the key, goes on the wire. The same service relays swarms for peers that
/// cannot run the DHT (<see cref="SignalingHandler"/>). Registered by <c>AddSwarmSignaling</c>.
/// </summary>
public sealed partial class SwarmSignaling : IAsyncDisposable
{
    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly GossipSubService _gossip;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SwarmState> _swarms = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _keys = new(StringComparer.Ordinal); // key -> swarm id hex
    private readonly ConditionalWeakTable<P2PStack.Protocols.GossipSub.Pb.Message, VerifiedPresence> _validated = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Task _ticker;
    private int _disposed;

    public SwarmSignaling(IPeerHost host, ILocalIdentity identity, GossipSubService gossip, IOptions<SwarmSignalingOptions> options,
        ILogger<SwarmSignaling>? logger = null, TimeProvider? time = null, IMeterFactory? meterFactory = null)
    {
        _host = host;
        _identity = identity;
        _gossip = gossip;
        Options = options.Value;
        Options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        Metrics = new SignalingMetrics(meterFactory, () => MemberCount, () => ServedCount);
        _ticker = Task.Run(TickLoopAsync);
    }

    public SwarmSignalingOptions Options { get; }

    public SignalingMetrics Metrics { get; }

    public PeerId LocalPeer => _identity.PeerId;

    /// <summary>The clock of presence times and of the answer-stall check (the first request's deadline is the
    /// system clock's, a CancelAfter).</summary>
    internal TimeProvider Time => _time;

    private DateTimeOffset Now => _time.GetUtcNow();

    private int MemberCount
    {
        get { lock (_gate) return _swarms.Values.Sum(s => s.Members.Count); }
    }

    /// <summary>Discovery keys of the swarms this node has joined.</summary>
    public IReadOnlyList<string> JoinedSwarms
    {
        get { lock (_gate) return [.. _swarms.Values.Where(s => s.Key is not null).Select(s => s.Key!).Order(StringComparer.Ordinal)]; }
    }

    /// <summary>
    /// Joins the swarm of <paramref name="key"/>: subscribes to its presence topic, announces this peer and keeps
    /// announcing every <paramref name="announceInterval"/> (default: options). Joining again changes the interval.
    /// </summary>
    /// <exception cref="ResourceLimitExceededException">Too many swarms joined.</exception>
    public async Task JoinAsync(string key, TimeSpan? announceInterval = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var interval = announceInterval ?? Options.AnnounceInterval;
        if (interval < TimeSpan.FromMilliseconds(100) || Options.PresenceLifetime(interval) > Options.MaxPresenceTtl)
            throw new ArgumentOutOfRangeException(nameof(announceInterval),
                $"announce interval must be 0.1 s to {(Options.MaxPresenceTtl / Options.PresenceLifetimeIntervals).TotalSeconds:0.#} s");
        var id = SignalingProtocol.SwarmId(key);
        SwarmState state;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
            if (!_keys.ContainsKey(key) && _keys.Count >= Options.MaxJoinedSwarms)
                throw new ResourceLimitExceededException("swarm signaling", "joined swarms", Options.MaxJoinedSwarms);
            state = GetOrCreateState(id);
            bool rejoin = state.Key is null;
            state.Key = key;
            _keys[key] = state.IdHex;
            state.AnnounceInterval = interval;
            if (rejoin) state.Since = Now;
            state.ReleaseAt = null;
        }
        await AnnounceAsync(state, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Leaves the swarm: announces the departure, and stops relaying its topic unless a light peer still
    /// uses it here. Returns whether it was joined.</summary>
    public async Task<bool> LeaveAsync(string key, CancellationToken cancellationToken = default)
    {
        SwarmState? state;
        lock (_gate)
        {
            if (!_keys.Remove(key, out var hex) || !_swarms.TryGetValue(hex, out state)) return false;
            state.Key = null;
            foreach (var watcher in state.Watchers) watcher.Complete();
            state.Watchers.Clear();
        }
        await PublishAsync(state, Presence.Types.Kind.Left, cancellationToken).ConfigureAwait(false);
        SwarmState? drop = null;
        lock (_gate)
        {
            if (state.Key is null && state.ServedBy.Count == 0 && _swarms.Remove(state.IdHex)) drop = state;
        }
        if (drop is not null) await drop.DisposeAsync().ConfigureAwait(false);
        return true;
    }

    /// <summary>The live members of a joined swarm (this node not included).</summary>
    public IReadOnlyList<SwarmMember> GetMembers(string key)
    {
        lock (_gate)
        {
            if (!_keys.TryGetValue(key, out var hex)) return [];
            return [.. _swarms[hex].Members.Values.Select(m => m.ToMember())];
        }
    }

    /// <summary>
    /// The signaling hosts through which <paramref name="peer"/> is reachable: those its presence names, when it is a
    /// live member of a swarm this node keeps a table for (joined or relayed) and announced no addresses of its own (a
    /// browser). Empty otherwise.
    /// </summary>
    public IReadOnlyList<PeerId> HostsOf(PeerId peer)
    {
        lock (_gate)
        {
            foreach (var swarm in _swarms.Values)
            {
                if (swarm.Members.TryGetValue(peer, out var member) && member.Presence.Addresses.Count == 0 && member.Presence.Hosts.Count > 0)
                    return member.Presence.Hosts;
            }
            return [];
        }
    }

    /// <summary>Events of a joined swarm from now on (PeerAvailable, PeerLeft).</summary>
    /// <exception cref="InvalidOperationException">The swarm is not joined.</exception>
    public SwarmWatcher Watch(string key)
    {
        lock (_gate)
        {
            if (!_keys.TryGetValue(key, out var hex)) throw new InvalidOperationException($"swarm '{key}' is not joined");
            var state = _swarms[hex];
            var watcher = new SwarmWatcher(key, Options.WatcherCapacity, w =>
            {
                lock (_gate) state.Watchers.Remove(w);
            });
            state.Watchers.Add(watcher);
            return watcher;
        }
    }

    // Under _gate.
    private SwarmState GetOrCreateState(byte[] id)
    {
        string hex = Convert.ToHexStringLower(id);
        if (_swarms.TryGetValue(hex, out var state)) return state;
        state = new SwarmState(id, hex, SignalingProtocol.PresenceTopic(id));
        state.Validator = _gossip.RegisterValidator(state.Topic, m => Validate(state, m));
        state.Subscription = _gossip.SubscribeAsync(state.Topic).GetAwaiter().GetResult(); // completes synchronously
        state.Reader = Task.Run(() => ReadAsync(state, _lifetime.Token));
        _swarms[hex] = state;
        return state;
    }

    private ValidationResult Validate(SwarmState state, PubSubMessage message)
    {
        VerifiedPresence presence;
        try
        {
            presence = SignalingProtocol.Open(message.Data.Span, state.Id, Now, Options);
        }
        catch (SignalingFormatException e)
        {
            Metrics.Refused(e.Reason);
            LogRefused(message.ReceivedFrom, e.Reason, e.Message);
            return e.Reason is "expired" or "clock_skew" ? ValidationResult.Ignore : ValidationResult.Reject;
        }
        // The gossip author must be the announced peer: nobody publishes presence for someone else.
        if (message.Author is { } author && author != presence.Peer)
        {
            Metrics.Refused("forged");
            LogRefused(message.ReceivedFrom, "forged", $"{author} published presence for {presence.Peer}");
            return ValidationResult.Reject;
        }
        _validated.AddOrUpdate(message.Raw, presence);
        return ValidationResult.Accept;
    }

    private async Task ReadAsync(SwarmState state, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in state.Subscription!.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                if (!_validated.TryGetValue(message.Raw, out var presence)) continue;
                _validated.Remove(message.Raw);
                if (presence.Peer == LocalPeer) continue;
                Apply(state, presence);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Applies a checked announcement to a swarm this node keeps (joined or relayed); false when it keeps none.
    /// For tests that need a swarm of many members without as many nodes.</summary>
    internal bool TryApply(ReadOnlySpan<byte> swarmId, VerifiedPresence presence)
    {
        SwarmState? state;
        lock (_gate) _swarms.TryGetValue(Convert.ToHexStringLower(swarmId), out state);
        if (state is null) return false;
        Apply(state, presence);
        return true;
    }

    /// <summary>Applies a checked announcement to the swarm's member table; raises events for joined swarms.</summary>
    internal void Apply(SwarmState state, VerifiedPresence presence)
    {
        var now = Now;
        SwarmEvent? raised = null;
        lock (_gate)
        {
            if (presence.Available && presence.Until <= now) return;
            if (state.Members.TryGetValue(presence.Peer, out var member))
            {
                if (presence.Seq <= member.Seq) return; // stale or replayed
                if (presence.Available)
                {
                    state.Members[presence.Peer] = Member.From(presence);
                    return;
                }
                state.Members.Remove(presence.Peer);
                state.Tombstones[presence.Peer] = (presence.Seq, now + Options.MaxPresenceTtl);
                if (state.Key is { } key) raised = new PeerLeft(key, presence.Peer, now, PeerLeftReason.Left);
            }
            else
            {
                if (state.Tombstones.TryGetValue(presence.Peer, out var tomb) && presence.Seq <= tomb.Seq) return; // replay of an older membership
                if (!presence.Available)
                {
                    if (state.Tombstones.Count < Options.MaxMembersPerSwarm) state.Tombstones[presence.Peer] = (presence.Seq, now + Options.MaxPresenceTtl);
                    return;
                }
                if (state.Members.Count >= Options.MaxMembersPerSwarm)
                {
                    Metrics.Refused("members_limit");
                    return;
                }
                state.Tombstones.Remove(presence.Peer);
                var added = Member.From(presence);
                state.Members[presence.Peer] = added;
                if (state.Key is { } key)
                {
                    raised = new PeerAvailable(key, presence.Peer, now, added.ToMember());
                    ScheduleAnnounceBack(state, now);
                }
            }
        }
        if (raised is not null) Raise(state, raised);
    }

    // Under _gate: a newcomer gets our presence soon, not only at our next periodic announcement.
    private void ScheduleAnnounceBack(SwarmState state, DateTimeOffset now)
    {
        if (state.AnnounceBackAt is not null) return;
        var at = now + (Options.AnnounceBackMaxDelay * Random.Shared.NextDouble());
        var earliest = state.LastAnnounce + Options.AnnounceBackMinInterval;
        state.AnnounceBackAt = at > earliest ? at : earliest;
    }

    private void Raise(SwarmState state, SwarmEvent e)
    {
        if (e is PeerAvailable available) LogAvailable(e.Swarm, e.Peer, available.Member.Until);
        else LogLeft(e.Swarm, e.Peer, ((PeerLeft)e).Reason);
        SwarmWatcher[] watchers;
        lock (_gate) watchers = [.. state.Watchers];
        foreach (var watcher in watchers) watcher.Offer(e);
        _host.Events.Publish(e);
    }

    private async Task AnnounceAsync(SwarmState state, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var now = Now;
            state.LastAnnounce = now;
            state.NextAnnounce = now + state.AnnounceInterval;
            state.AnnounceBackAt = null;
        }
        await PublishAsync(state, Presence.Types.Kind.Available, cancellationToken).ConfigureAwait(false);
    }

    private async Task PublishAsync(SwarmState state, Presence.Types.Kind kind, CancellationToken cancellationToken)
    {
        var now = Now;
        Presence presence;
        lock (_gate)
        {
            presence = new Presence
            {
                Swarm = ByteString.CopyFrom(state.Id),
                Peer = ByteString.CopyFrom(LocalPeer.Bytes.Span),
                Kind = kind,
                SinceMs = (ulong)state.Since.ToUnixTimeMilliseconds(),
                UntilMs = kind == Presence.Types.Kind.Available ? (ulong)(now + Options.PresenceLifetime(state.AnnounceInterval)).ToUnixTimeMilliseconds() : 0,
                Seq = PeerRecord.NextTimestampSeq(),
            };
        }
        foreach (var address in _host.AdvertisedAddresses.Take(Options.MaxAddressesPerPresence))
            presence.Addrs.Add(ByteString.CopyFrom(address.Bytes.Span));
        try
        {
            await _gossip.PublishAsync(state.Topic, SignalingProtocol.Seal(presence, _identity.PrivateKey), cancellationToken).ConfigureAwait(false);
            Metrics.Announced(kind == Presence.Types.Kind.Available ? "available" : "left");
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogPublishFailed(state.IdHex, e.Message);
        }
    }

    private async Task TickLoopAsync()
    {
        var token = _lifetime.Token;
        using var timer = new PeriodicTimer(Options.TickInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                try
                {
                    await TickAsync(token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogTickFailed(e);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>Expiries, announcements due, new topic neighbours, grace periods that ended.</summary>
    private async Task TickAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        var events = new List<(SwarmState, SwarmEvent)>();
        var announce = new List<SwarmState>();
        var release = new List<SwarmState>();
        lock (_gate)
        {
            foreach (var state in _swarms.Values)
            {
                foreach (var member in state.Members.Values.Where(m => m.Until <= now).ToList())
                {
                    state.Members.Remove(member.Peer);
                    if (state.Key is { } key) events.Add((state, new PeerLeft(key, member.Peer, now, PeerLeftReason.Expired)));
                }
                foreach (var (peer, tomb) in state.Tombstones.Where(t => t.Value.Expires <= now).ToList()) state.Tombstones.Remove(peer);
                if (state.Key is not null)
                {
                    int neighbours = _gossip.GetPeers(state.Topic).Count;
                    if (neighbours > state.TopicNeighbours) ScheduleAnnounceBack(state, now); // a new neighbour may be a newcomer
                    state.TopicNeighbours = neighbours;
                    if (now >= state.NextAnnounce || state.AnnounceBackAt <= now) announce.Add(state);
                }
                else if (state.ServedBy.Count == 0 && state.ReleaseAt <= now)
                {
                    release.Add(state);
                }
            }
            foreach (var state in release) _swarms.Remove(state.IdHex);
        }
        foreach (var (state, e) in events) Raise(state, e);
        foreach (var state in announce) await AnnounceAsync(state, cancellationToken).ConfigureAwait(false);
        foreach (var state in release) await state.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Announces departure from every joined swarm (a clean shutdown) and stops.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        using (var quick = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            foreach (var key in JoinedSwarms)
            {
                try
                {
                    await LeaveAsync(key, quick.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        }
        await _lifetime.CancelAsync().ConfigureAwait(false);
        await _ticker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        SwarmState[] states;
        lock (_gate)
        {
            states = [.. _swarms.Values];
            _swarms.Clear();
        }
        foreach (var state in states) await state.DisposeAsync().ConfigureAwait(false);
        Metrics.Dispose();
        _lifetime.Dispose();
    }

    internal sealed class Member
    {
        public required PeerId Peer { get; init; }
        public required DateTimeOffset Since { get; init; }
        public required DateTimeOffset Until { get; init; }
        public required ulong Seq { get; init; }
        public required VerifiedPresence Presence { get; init; }

        public static Member From(VerifiedPresence p) => new() { Peer = p.Peer, Since = p.Since, Until = p.Until, Seq = p.Seq, Presence = p };

        public SwarmMember ToMember() => new(Peer, Since, Until, Presence.Addresses, Presence.Hosts);
    }

    internal sealed class SwarmState(byte[] id, string idHex, string topic) : IAsyncDisposable
    {
        public byte[] Id { get; } = id;
        public string IdHex { get; } = idHex;
        public string Topic { get; } = topic;
        /// <summary>The discovery key when this node joined; null when the swarm is only relayed for light peers.</summary>
        public string? Key { get; set; }
        public DateTimeOffset Since { get; set; }
        public TimeSpan AnnounceInterval { get; set; }
        public DateTimeOffset NextAnnounce { get; set; }
        public DateTimeOffset LastAnnounce { get; set; }
        public DateTimeOffset? AnnounceBackAt { get; set; }
        public int TopicNeighbours { get; set; }
        public Dictionary<PeerId, Member> Members { get; } = [];
        public Dictionary<PeerId, (ulong Seq, DateTimeOffset Expires)> Tombstones { get; } = [];
        public List<SwarmWatcher> Watchers { get; } = [];
        /// <summary>Signaling sessions of light peers that asked this host to relay the swarm.</summary>
        public HashSet<long> ServedBy { get; } = [];
        /// <summary>When the relay ends if no session asks for it again (the grace period).</summary>
        public DateTimeOffset? ReleaseAt { get; set; }
        public IDisposable? Validator { get; set; }
        public Subscription? Subscription { get; set; }
        public Task Reader { get; set; } = Task.CompletedTask;

        public async ValueTask DisposeAsync()
        {
            Subscription?.Dispose();
            Validator?.Dispose();
            foreach (var watcher in Watchers) watcher.Complete();
            await Reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "presence from {Peer} refused: {Reason} ({Detail})")]
    private partial void LogRefused(PeerId peer, string reason, string detail);

    /// <summary>A light peer's signaling stream cut off: counted and logged once.</summary>
    internal void RefusedStream(PeerId peer, string reason, string detail)
    {
        Metrics.Refused(reason);
        LogRefusedStream(peer, reason, detail);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "signaling stream of {Peer} cut off: {Reason}: {Detail}")]
    private partial void LogRefusedStream(PeerId peer, string reason, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "swarm {Swarm}: {Peer} available until {Until}")]
    private partial void LogAvailable(string swarm, PeerId peer, DateTimeOffset until);

    [LoggerMessage(Level = LogLevel.Information, Message = "swarm {Swarm}: {Peer} left ({Reason})")]
    private partial void LogLeft(string swarm, PeerId peer, PeerLeftReason reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "presence for swarm {Swarm} not published: {Reason}")]
    private partial void LogPublishFailed(string swarm, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "signaling tick failed")]
    private partial void LogTickFailed(Exception exception);
}
