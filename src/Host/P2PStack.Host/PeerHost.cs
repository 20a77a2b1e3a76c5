using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Host.Metrics;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// The libp2p host: listens, dials (with the dial context of <see cref="DialOptions"/>, timeouts from options,
/// cancellation and coalescing of simultaneous dials to one peer), upgrades connections, routes inbound streams to
/// protocol handlers, and enforces limits and gaters. Transports are resolved on first use, so a transport may depend
/// on the host. Everything the host starts in the background is owned by it and awaited by <see cref="StopAsync"/>.
/// Parts: dialing (<c>PeerHost.Dialing.cs</c>), listening and inbound upgrades (<c>PeerHost.Listening.cs</c>).
/// </summary>
public sealed partial class PeerHost : IPeerHost, IAsyncDisposable
{
    /// <summary>How long addresses learned from a successful dial stay in the peer store.</summary>
    public static readonly TimeSpan ConnectedAddressTtl = TimeSpan.FromMinutes(30);

    private readonly ILocalIdentity _identity;
    private readonly TransportRegistry _transports;
    private readonly Upgrader _upgrader;
    private readonly ProtocolRegistry _registry;
    private readonly IConnectionGater[] _gaters;
    private readonly HostOptions _options;
    private readonly ILogger<PeerHost> _logger;
    private readonly ConnectionTable _connections;
    private readonly ConnectionManager _connectionManager;
    private readonly HostMetrics _metrics;
    private readonly AddressManager _addresses;
    private readonly BackgroundWork _background;
    private readonly ResourceManager _resources;
    private readonly SecuritySuiteMemory _securityMemory;
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, PendingDial> _pendingDials = [];
    private readonly Dictionary<Multiaddr, SimultaneousOpen> _simultaneousOpens = [];
    private readonly List<HostListener> _listeners = [];
    private int _pendingInbound;
    private readonly Dictionary<System.Net.IPAddress, int> _pendingInboundByIp = [];
    private int _started;
    private int _stopped;

    internal PeerHost(ILocalIdentity identity, TransportRegistry transports, Upgrader upgrader, ProtocolRegistry registry,
        IPeerStore peerStore, IEventBus events, IEnumerable<IConnectionGater> gaters, IOptions<HostOptions> options,
        ILogger<PeerHost> logger, ConnectionTable connections, ConnectionManager connectionManager, HostMetrics metrics,
        AddressManager addresses, ResourceManager resources)
    {
        _resources = resources;
        _identity = identity;
        _transports = transports;
        _upgrader = upgrader;
        _registry = registry;
        _gaters = [.. gaters];
        _options = options.Value;
        _securityMemory = new SecuritySuiteMemory(_options.OptimisticSecurityPeers, _options.OptimisticSecurityLifetime);
        _logger = logger;
        PeerStore = peerStore;
        Events = events;
        _connections = connections;
        _connectionManager = connectionManager;
        _metrics = metrics;
        _addresses = addresses;
        _background = new BackgroundWork(logger);
    }

    public PeerId PeerId => _identity.PeerId;

    public IReadOnlyList<Multiaddr> ListenAddresses => _addresses.ListenAddresses;

    public IReadOnlyList<Multiaddr> AdvertisedAddresses => _addresses.AdvertisedAddresses;

    public IAddressManager AddressManager => _addresses;

    public IPeerStore PeerStore { get; }

    public IEventBus Events { get; }

    public IConnectionManager ConnectionManager => _connectionManager;

    public IReadOnlyCollection<string> Protocols => _registry.Protocols;

    /// <summary>The resource manager counting this host's connections, streams and muxer memory.</summary>
    public ResourceManager Resources => _resources;

    /// <summary>The security protocol each recently dialed peer accepted (optimistic security negotiation).</summary>
    public SecuritySuiteMemory SecurityMemory => _securityMemory;

    /// <summary>Security protocols offered, in preference order.</summary>
    public IReadOnlyList<string> SecurityProtocols => _upgrader.SecurityProtocols;

    /// <summary>Items of background work running now (accept loops, upgrades, connection runs, stream handlers, module
    /// work): the host's tasks, which the churn soak checks return to their baseline.</summary>
    public int BackgroundWorkCount => _background.Count;

    public IDisposable AddHandler(IProtocolHandler handler)
    {
        var registration = _registry.Add(handler);
        Events.Publish(new LocalProtocolsChanged(_registry.Protocols));
        return new Unregistration(() =>
        {
            registration.Dispose();
            Events.Publish(new LocalProtocolsChanged(_registry.Protocols));
        });
    }

    private sealed class Unregistration(Action undo) : IDisposable
    {
        private Action? _undo = undo;

        public void Dispose() => Interlocked.Exchange(ref _undo, null)?.Invoke();
    }

    public void RunInBackground(Func<CancellationToken, Task> work) => _background.Run(work);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("the host is already started");
        _ = _registry.Protocols; // resolve the DI handlers now, so their event subscriptions exist before any connection
        foreach (var address in _options.ListenAddresses)
            await ListenCoreAsync(address, cancellationToken).ConfigureAwait(false);
        _background.Run(ConnectionManagerLoopAsync);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        _background.Cancel();
        HostListener[] listeners;
        lock (_gate) listeners = [.. _listeners];
        foreach (var listener in listeners) await listener.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_connections.Snapshot().Select(c => c.CloseAsync(cancellationToken).AsTask())).ConfigureAwait(false);
        await _background.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _stopped) == 0)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Connections that did not close in time are aborted with their sessions.
            }
        }
    }

    public IReadOnlyList<IConnection> GetConnections() => _connections.Public();

    public IReadOnlyList<IConnection> GetConnections(PeerId peer) => _connections.Public(peer);

    public async ValueTask DisconnectAsync(PeerId peer, CancellationToken cancellationToken)
    {
        foreach (var connection in GetConnections(peer))
            await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<IConnection> AddConnectionAsync(UpgradedConnection upgraded, TransportInfo transport, bool dialed,
        ConnectionScope resources)
    {
        var peer = upgraded.Secure.RemotePeer;
        var connection = new HostConnection(upgraded, transport, _identity, _registry, _options, _logger, _metrics, _background, Forget, resources);
        Exception? refusal = _background.Stopping.IsCancellationRequested
            ? new OperationCanceledException("the host is stopping")
            : SetPeer(resources, peer) ?? _connections.TryAdd(connection);
        if (refusal is not null)
        {
            await upgraded.Session.DisposeAsync().ConfigureAwait(false);
            resources.Dispose();
            throw refusal;
        }

        try
        {
            // The ephemeral key of an anonymous remote tells nothing worth keeping.
            if (!connection.IsAnonymous || connection.IsPrivate) PeerStore.AddPublicKey(peer, upgraded.Secure.RemotePublicKey);
            // A private connection's dial is nobody else's business: the address stays out of the shared store.
            if (dialed && !connection.IsPrivate)
                PeerStore.AddAddresses(peer, [connection.RemoteAddress], ConnectedAddressTtl);
        }
        catch (Exception ex)
        {
            // A failing store (disk full) must not leave a registered connection that never runs.
            LogPeerStoreFailed(peer, ex.Message);
        }
        LogConnected(connection.Direction, peer, connection.RemoteAddress.ToString(), connection.SecurityProtocol, connection.Muxer);
        // Connected is published before the connection runs, so Disconnected can never overtake it.
        _metrics.ConnectionOpened(connection);
        // Private and anonymous connections raise no peer events: modules reacting to them (identify, the DHT, gossip)
        // would open streams that tie identities together or take an ephemeral peer into their tables.
        if (!connection.IsAnonymous) Events.Publish(new PeerConnected(connection));
        else Events.Publish(new AnonymousConnectionOpened(connection));
        // The peer's half of a simultaneous open that a listener accepted before this side's dial was registered
        // (this side then being the server, the roles agree): that dial's connect fails, and this is its connection.
        if (!dialed) CompleteSimultaneousOpen(connection);
        _background.Run(_ => RunConnectionAsync(connection));
        _background.Run(_connectionManager.TrimIfNeededAsync);
        return connection;
    }

    /// <summary>Moves the connection's resource scope into its peer's; returns the refusal.</summary>
    private static ResourceLimitExceededException? SetPeer(ConnectionScope resources, PeerId peer)
    {
        try
        {
            resources.SetPeer(peer);
            return null;
        }
        catch (ResourceLimitExceededException refusal)
        {
            return refusal;
        }
    }

    private async Task RunConnectionAsync(HostConnection connection)
    {
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            Forget(connection); // done already as the connection closed; kept for a run that ended any other way
            LogDisconnected(connection.RemotePeer, connection.RemoteAddress.ToString());
            if (!connection.IsAnonymous) Events.Publish(new PeerDisconnected(connection));
        }
    }

    // Called by the connection as it closes, before its Completion completes: once a close or Completion has been
    // awaited, the connection is no longer listed, counted or handed out.
    private void Forget(HostConnection connection)
    {
        var (_, lastOfPeer) = _connections.Remove(connection);
        if (lastOfPeer) _connectionManager.Forget(connection.RemotePeer);
    }

    // Trims above the high watermark and notices expired observed addresses and interface changes.
    private async Task ConnectionManagerLoopAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(_options.ConnectionManager.CheckInterval);
        while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
        {
            await _connectionManager.TrimIfNeededAsync(token).ConfigureAwait(false);
            _addresses.Refresh();
        }
    }

    private void Gate(string stage, Func<IConnectionGater, GateDecision> intercept)
    {
        foreach (var gater in _gaters)
        {
            var decision = intercept(gater);
            if (!decision.Allowed) throw new ConnectionGatedException(stage, decision.Reason ?? "denied");
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Updating the peer store for {Peer} failed: {Reason}")]
    private partial void LogPeerStoreFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Direction} connection with {Peer} at {Address} ({Security}, {Muxer})")]
    private partial void LogConnected(Direction direction, PeerId peer, string address, string security, string muxer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Disconnected from {Peer} at {Address}")]
    private partial void LogDisconnected(PeerId peer, string address);
}
