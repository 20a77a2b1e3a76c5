using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// The host's resource manager (go-libp2p's rcmgr model): scopes system, transient, service, protocol, peer,
/// connection and stream, each with limits on inbound and outbound connections and streams and on memory
/// reservations. The host counts connections from accept or dial and streams from open or accept; yamux reserves
/// each stream's receive window in its connection's scope. Refusals are <see cref="ResourceLimitExceededException"/>s
/// naming the scope and the limit, counted per scope (<see cref="ResourceScopeStat.Refusals"/>) and on the
/// <c>P2PStack.Resources</c> meter. One lock guards every count: reservations are rare next to the bytes they cover.
/// </summary>
public sealed class ResourceManager : IResourceManager, IDisposable
{
    private readonly ResourceLimits _limits;
    private readonly ResourceScope _system;
    private readonly ResourceScope _transient;
    private readonly Dictionary<string, ResourceScope> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ResourceScope> _protocols = new(StringComparer.Ordinal);
    private readonly Dictionary<PeerId, PeerResourceScope> _peers = [];
    // Live connection and stream scopes, for the snapshot (each leaves as it closes).
    private readonly HashSet<ConnectionScope> _connections = [];
    private readonly HashSet<StreamScope> _streams = [];
    private readonly ResourceMetrics _metrics;
    private long _nextStream;

    public ResourceManager(ResourceLimits limits, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(limits);
        _limits = limits;
        _system = new ResourceScope(this, "system", "system", limits.System);
        _transient = new ResourceScope(this, "transient", "transient", limits.Transient, _system);
        _metrics = new ResourceMetrics(meterFactory, this);
    }

    internal Lock Gate { get; } = new();

    public ResourceLimits Limits => _limits;

    public IResourceScope System => _system;

    public IResourceScope Transient => _transient;

    public IResourceScope Service(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        lock (Gate)
        {
            if (!_services.TryGetValue(name, out var scope))
                _services[name] = scope = new ResourceScope(this, "service", $"service {name}",
                    _limits.Services.GetValueOrDefault(name) ?? _limits.Service, _system);
            return scope;
        }
    }

    /// <summary>A protocol's scope (its streams over all peers).</summary>
    public IResourceScope Protocol(string protocol)
    {
        lock (Gate) return ProtocolLocked(protocol);
    }

    /// <summary>The peer's scope while it holds anything, else null.</summary>
    public IResourceScope? Peer(PeerId peer)
    {
        lock (Gate) return _peers.GetValueOrDefault(peer);
    }

    /// <summary>System, transient, service and protocol scopes: the ones metrics export (their number is set by
    /// configuration, not by peers), without walking every peer, connection and stream.</summary>
    internal IReadOnlyList<ResourceScopeStat> SharedScopes()
    {
        lock (Gate) return SharedScopesLocked();
    }

    private List<ResourceScopeStat> SharedScopesLocked()
    {
        var stats = new List<ResourceScopeStat> { Stat(_system), Stat(_transient) };
        stats.AddRange(_services.Values.OrderBy(s => s.Name, StringComparer.Ordinal).Select(Stat));
        stats.AddRange(_protocols.Values.OrderBy(s => s.Name, StringComparer.Ordinal).Select(Stat));
        return stats;
    }

    private static ResourceScopeStat Stat(ResourceScope scope) =>
        new(scope.Kind, scope.Name, scope.UsageLocked, scope.Limit, scope.Refusals);

    public IReadOnlyList<ResourceScopeStat> Snapshot(int top = ResourceScopeStat.DefaultTop)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(top);
        lock (Gate)
        {
            var stats = SharedScopesLocked();
            stats.AddRange(_peers.Values.OrderBy(s => s.Name, StringComparer.Ordinal).Select(Stat));
            // Connections and streams may number thousands: a total, then only the largest.
            stats.Add(Total("connection", "connections", _connections, _limits.Connection));
            stats.AddRange(Largest(_connections, top).Select(c => Stat(c) with { Name = ConnectionName(c) }));
            stats.Add(Total("stream", "streams", _streams, _limits.Stream));
            stats.AddRange(Largest(_streams, top).Select(s => Stat(s) with { Name = StreamName(s) }));
            return stats;
        }

        static ResourceScopeStat Total(string kind, string name, IReadOnlyCollection<ResourceScope> scopes, ResourceLimit each)
        {
            int connectionsIn = 0, connectionsOut = 0, streamsIn = 0, streamsOut = 0;
            long memory = 0, refusals = 0;
            foreach (var scope in scopes)
            {
                var usage = scope.UsageLocked;
                connectionsIn += usage.ConnectionsInbound;
                connectionsOut += usage.ConnectionsOutbound;
                streamsIn += usage.StreamsInbound;
                streamsOut += usage.StreamsOutbound;
                memory += usage.Memory;
                refusals += scope.Refusals;
            }
            return new(kind, name, new ResourceUsage(connectionsIn, connectionsOut, streamsIn, streamsOut, memory), each, refusals, scopes.Count);
        }

        static IEnumerable<T> Largest<T>(IEnumerable<T> scopes, int count) where T : ResourceScope =>
            scopes.OrderByDescending(s => s.UsageLocked.Memory).ThenByDescending(s => s.UsageLocked.Streams)
                .ThenBy(s => s.Name, StringComparer.Ordinal).Take(count);

        static string ConnectionName(ConnectionScope c) =>
            $"{c.Name} {(c.Direction == Direction.Inbound ? "inbound" : "outbound")} {c.Peer?.Name ?? "(handshake)"}";

        static string StreamName(StreamScope s) =>
            $"{s.Name} {(s.Direction == Direction.Inbound ? "inbound" : "outbound")} {s.Protocol ?? "(negotiating)"}"
            + (s.Connection is { } c ? $" on {c.Name}" : "");
    }

    /// <summary>Counts a new connection in transient and system.</summary>
    /// <exception cref="ResourceLimitExceededException">The transient or system connection limit.</exception>
    internal ConnectionScope OpenConnection(Direction direction)
    {
        var scope = new ConnectionScope(this, direction, _limits.Connection, _transient, _system);
        lock (Gate)
        {
            if (TryReserve(scope, Delta.Connection(direction), 255) is { } refusal)
            {
                scope.CloseLocked();
                throw refusal;
            }
            _connections.Add(scope);
        }
        return scope;
    }

    internal void SetPeer(ConnectionScope connection, PeerId peer)
    {
        lock (Gate)
        {
            if (connection.IsClosed) throw new InvalidOperationException($"{connection.Name} is closed");
            if (connection.Peer is not null) throw new InvalidOperationException($"{connection.Name} already belongs to {connection.Peer.Name}");
            bool created = false;
            if (!_peers.TryGetValue(peer, out var peerScope))
            {
                peerScope = new PeerResourceScope(this, peer, _limits.Peers.GetValueOrDefault(peer) ?? _limits.Peer, _system);
                _peers[peer] = peerScope;
                created = true;
            }
            // Everything the connection counts (itself, its memory, streams opened already) moves over.
            var usage = connection.UsageLocked;
            var moved = new Delta(usage.ConnectionsInbound, usage.ConnectionsOutbound, usage.StreamsInbound, usage.StreamsOutbound, usage.Memory);
            if (peerScope.Check(moved, 255) is { } refusal)
            {
                if (created) _peers.Remove(peer);
                throw refusal;
            }
            _transient.Apply(moved, -1);
            peerScope.Apply(moved, +1);
            connection.Parents = [peerScope, _system];
            connection.Peer = peerScope;
        }
    }

    internal StreamScope OpenStream(ConnectionScope connection, Direction direction)
    {
        var scope = new StreamScope(this, direction, _limits.Stream, $"stream {Interlocked.Increment(ref _nextStream)}",
            connection, _transient, _system);
        lock (Gate)
        {
            if (TryReserve(scope, Delta.Stream(direction), 255) is { } refusal)
            {
                scope.CloseLocked();
                throw refusal;
            }
            _streams.Add(scope);
        }
        return scope;
    }

    internal void SetProtocol(StreamScope stream, string protocol)
    {
        lock (Gate)
        {
            if (stream.IsClosed) throw new InvalidOperationException($"{stream.Name} is closed");
            if (stream.Protocol is not null) throw new InvalidOperationException($"{stream.Name} already runs {stream.Protocol}");
            var protocolScope = ProtocolLocked(protocol);
            var usage = stream.UsageLocked;
            var moved = new Delta(0, 0, usage.StreamsInbound, usage.StreamsOutbound, usage.Memory);
            if (protocolScope.Check(moved, 255) is { } refusal) throw refusal;
            _transient.Apply(moved, -1);
            protocolScope.Apply(moved, +1);
            stream.Parents = [.. stream.Parents.Select(p => ReferenceEquals(p, _transient) ? protocolScope : p)];
            stream.Protocol = protocol;
        }
    }

    private ResourceScope ProtocolLocked(string protocol)
    {
        if (!_protocols.TryGetValue(protocol, out var scope))
            _protocols[protocol] = scope = new ResourceScope(this, "protocol", $"protocol {protocol}",
                _limits.Protocols.GetValueOrDefault(protocol) ?? _limits.Protocol, _system);
        return scope;
    }

    /// <summary>Counts <paramref name="delta"/> in the scope and its ancestors unless one refuses; returns the refusal.</summary>
    internal ResourceLimitExceededException? TryReserve(ResourceScope scope, Delta delta, byte priority)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(delta.Memory);
        lock (Gate)
        {
            if (scope.IsClosed) return new ResourceLimitExceededException($"{scope.Name} (closed)", "memory", 0, delta.Memory, 0);
            var chain = scope.Chain();
            foreach (var s in chain)
                if (s.Check(delta, priority) is { } refusal) return refusal;
            foreach (var s in chain) s.Apply(delta, +1);
            scope.ApplyOwn(delta, +1);
            return null;
        }
    }

    internal void Release(ResourceScope scope, Delta delta)
    {
        lock (Gate)
        {
            if (scope.IsClosed) return;
            // Never below what the scope holds itself: a double release must not free someone else's reservation.
            var own = scope.Own;
            if (delta.Memory > own.Memory) throw new InvalidOperationException($"{scope.Name} releases {delta.Memory} bytes but holds {own.Memory}");
            foreach (var s in scope.Chain()) s.Apply(delta, -1);
            scope.ApplyOwn(delta, -1);
            ForgetIdlePeers(scope);
        }
    }

    internal void Close(ResourceScope scope)
    {
        lock (Gate)
        {
            var chain = scope.Chain();
            scope.CloseLocked();
            if (scope is ConnectionScope connection) _connections.Remove(connection);
            else if (scope is StreamScope stream) _streams.Remove(stream);
            foreach (var s in chain) ForgetIdlePeers(s);
        }
    }

    // A peer's scope lives while it holds something: peer ids are free, so idle ones must not pile up.
    private void ForgetIdlePeers(ResourceScope scope)
    {
        foreach (var s in scope.Chain())
        {
            if (s is PeerResourceScope peer && peer.UsageLocked.IsZero && _peers.TryGetValue(peer.PeerId, out var listed)
                && ReferenceEquals(listed, peer))
                _peers.Remove(peer.PeerId);
        }
    }

    internal void CountRefusal(ResourceScope scope, string resource) => _metrics.Refused(scope, resource);

    public void Dispose() => _metrics.Dispose();

    /// <summary>Instruments on the <c>P2PStack.Resources</c> meter. Labels name only scopes of bounded number (system,
    /// transient, services, protocols); peers, connections and streams are labelled by kind.</summary>
    private sealed class ResourceMetrics : ModuleMetrics
    {
        public const string MeterName = "P2PStack.Resources";

        private readonly Counter<long> _refusals;

        public ResourceMetrics(IMeterFactory? factory, ResourceManager manager)
            : base(factory, MeterName)
        {
            _refusals = Meter.CreateCounter<long>("p2pstack_resource_refusals_total", "{refusal}",
                "Reservations the resource manager refused, by scope (peers, connections and streams by kind) and resource.");
            Meter.CreateObservableGauge("p2pstack_resource_usage", () => Observe(manager, limit: false), "{unit}",
                "What the system, transient, service and protocol scopes hold (resource = connections_inbound, ..., memory in bytes).");
            Meter.CreateObservableGauge("p2pstack_resource_limit", () => Observe(manager, limit: true), "{unit}",
                "Limits of the system, transient, service and protocol scopes (unlimited ones are not exported).");
        }

        public void Refused(ResourceScope scope, string resource) =>
            _refusals.Add(1, new("scope", scope.Kind is "peer" or "connection" or "stream" ? scope.Kind : scope.Name),
                new("resource", resource.Replace(' ', '_')));

        private static IEnumerable<Measurement<long>> Observe(ResourceManager manager, bool limit)
        {
            foreach (var stat in manager.SharedScopes())
            {
                var scope = new KeyValuePair<string, object?>("scope", stat.Name);
                foreach (var (resource, used, max) in Values(stat))
                {
                    if (limit && max is int.MaxValue or long.MaxValue) continue;
                    yield return new Measurement<long>(limit ? max : used, scope, new("resource", resource));
                }
            }
        }

        private static IEnumerable<(string, long, long)> Values(ResourceScopeStat stat)
        {
            var u = stat.Usage;
            var l = stat.Limit;
            yield return ("connections_inbound", u.ConnectionsInbound, l.ConnectionsInbound);
            yield return ("connections_outbound", u.ConnectionsOutbound, l.ConnectionsOutbound);
            yield return ("streams_inbound", u.StreamsInbound, l.StreamsInbound);
            yield return ("streams_outbound", u.StreamsOutbound, l.StreamsOutbound);
            yield return ("memory", u.Memory, l.Memory);
        }
    }
}
