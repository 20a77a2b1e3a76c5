using System.Diagnostics.Metrics;
using System.Net;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Lookup;
using P2PStack.Protocols.Kademlia.Pb;
using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia;

/// <summary>
/// A Kademlia DHT node (libp2p kad-dht): routing table, record and provider stores, the request handler that serves
/// other peers, and the client operations (find peer, closest peers, put/get value, provide/find providers,
/// bootstrap, refresh). Networking goes through <see cref="IKadNetwork"/>; <see cref="KademliaHostedService"/> binds it
/// to a host.
/// </summary>
public sealed partial class KademliaDht : IAsyncDisposable
{
    /// <summary>The resource manager's service scope the in-memory record and provider stores reserve their bytes in.</summary>
    public const string ResourceService = "kademlia";

    private readonly IKadNetwork _network;
    private readonly IKadPeerDirectory _directory;
    private readonly IDhtRecordStore _records;
    private readonly IProviderStore _providers;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private readonly HashSet<Task> _background = [];
    private readonly KademliaMetrics _metrics;

    public KademliaDht(PeerId self, KademliaOptions options, IKadNetwork network, IKadPeerDirectory directory,
        IDhtRecordStore? records = null, IProviderStore? providers = null, TimeProvider? time = null, ILogger<KademliaDht>? logger = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(self);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Self = self;
        Options = options;
        _network = network ?? throw new ArgumentNullException(nameof(network));
        _directory = directory ?? throw new ArgumentNullException(nameof(directory));
        _records = records ?? new InMemoryRecordStore(options.RecordLimits);
        _providers = providers ?? new InMemoryProviderStore(options.ProviderLimits);
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<KademliaDht>.Instance;
        RoutingTable = new RoutingTable(self, options.BucketSize, options.Diversity, IsAliveAsync, options.MinLivenessCheckInterval, _time);
        RequestHandler = new KadRequestHandler(self, options, RoutingTable, directory, _records, _providers, _time);
        _metrics = new KademliaMetrics(meterFactory, RoutingTable, _records);
    }

    public PeerId Self { get; }

    public KademliaOptions Options { get; }

    public RoutingTable RoutingTable { get; }

    internal KademliaMetrics Metrics => _metrics;

    /// <summary>Serves inbound requests; the stream handler feeds it.</summary>
    public KadRequestHandler RequestHandler { get; }

    private LookupParameters Parameters => new(Options.BucketSize, Options.Alpha, Options.Beta);

    /// <summary>Starts the periodic refresh and store cleanup (bootstrap runs separately: <see cref="BootstrapAsync"/>).</summary>
    public void StartBackgroundTasks()
    {
        if (_loops.Count > 0) return;
        if (Options.RefreshInterval > TimeSpan.Zero)
            _loops.Add(RunPeriodicallyAsync(Options.RefreshInterval, RefreshAsync, "routing table refresh"));
        if (Options.CleanupInterval > TimeSpan.Zero)
            _loops.Add(RunPeriodicallyAsync(Options.CleanupInterval, CleanupAsync, "store cleanup"));
    }

    /// <summary>Stops the background tasks.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] background;
        lock (_background) background = [.. _background];
        try { await Task.WhenAll([.. _loops, .. background]).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        _metrics.Dispose();
    }

    /// <summary>
    /// Offers a peer known to serve the DHT protocol (identify said so). Unless it is already in the table, it is
    /// first asked a FIND_NODE (as go does) so that only answering servers join.
    /// </summary>
    public async Task<RoutingTableAddResult> AddServerPeerAsync(PeerId peer, CancellationToken cancellationToken)
    {
        if (peer == Self) return RoutingTableAddResult.Self;
        if (RoutingTable.MarkSeen(peer)) return RoutingTableAddResult.Updated;
        if (!await IsAliveAsync(peer, cancellationToken).ConfigureAwait(false)) return RoutingTableAddResult.BucketFull;
        return await RoutingTable.TryAddAsync(peer, _directory.GetConnectedIPs(peer), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a peer that stopped serving the protocol.</summary>
    public bool RemovePeer(PeerId peer) => RoutingTable.Remove(peer);

    /// <summary>Drops expired records and provider announcements.</summary>
    public async Task CleanupAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        int records = await _records.RemoveExpiredAsync(now - Options.MaxRecordAge, cancellationToken).ConfigureAwait(false);
        int providers = await _providers.RemoveExpiredAsync(now - Options.ProviderValidity, cancellationToken).ConfigureAwait(false);
        if (records + providers > 0) Log.Cleaned(_logger, records, providers);
    }

    // Liveness check of the routing table and admission check: the peer answers a FIND_NODE for itself.
    private async Task<bool> IsAliveAsync(PeerId peer, CancellationToken cancellationToken)
    {
        try
        {
            await RequestAsync(peer, new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(peer.Bytes.Span) }, addToTable: false,
                cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.PeerNotAlive(_logger, peer, e.Message);
            return false;
        }
    }

    /// <summary>
    /// One request/response with the request timeout. A peer that answers joins the routing table (it is a server);
    /// one that fails while we still wanted the answer leaves it (as go does).
    /// </summary>
    private async Task<Message> RequestAsync(PeerId peer, Message request, bool addToTable, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.RequestTimeout);
        Message response;
        try
        {
            response = await _network.SendAsync(peer, request, expectResponse: true, timeout.Token).ConfigureAwait(false)
                ?? throw new KadProtocolException("no response");
            if (response.Type != request.Type)
                throw new KadProtocolException($"{request.Type} request answered with {response.Type}");
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            _metrics.OutboundRequest(request.Type, timeout.IsCancellationRequested ? "timeout" : "error");
            if (addToTable) RoutingTable.Remove(peer);
            throw;
        }
        _metrics.OutboundRequest(request.Type, "ok");
        if (addToTable) OfferToTable(peer);
        return response;
    }

    // Adds a peer that answered; a full bucket's liveness check runs in the background, off the lookup's path.
    private void OfferToTable(PeerId peer)
    {
        var ips = _directory.GetConnectedIPs(peer);
        var result = RoutingTable.TryAdd(peer, ips);
        if (result == RoutingTableAddResult.Added) Log.PeerAdded(_logger, peer);
        if (result != RoutingTableAddResult.BucketFull || _stopping.IsCancellationRequested) return;
        Track(RoutingTable.TryAddAsync(peer, ips, _stopping.Token));
    }

    private void Track(Task task)
    {
        lock (_background) _background.Add(task);
        task.ContinueWith(t =>
        {
            lock (_background) _background.Remove(t);
            if (t.IsFaulted && !_stopping.IsCancellationRequested) Log.BackgroundFailed(_logger, "routing table eviction", t.Exception!);
        }, TaskScheduler.Default);
    }

    /// <summary>Takes the valid peers of a response (capped), remembers their addresses, and returns their ids.</summary>
    private List<PeerInfo> AcceptPeers(IEnumerable<Peer> wirePeers, TimeSpan ttl)
    {
        var result = new List<PeerInfo>();
        foreach (var wire in wirePeers.Take(Options.MaxCloserPeersPerResponse))
        {
            var info = KadProtocol.ToPeerInfo(wire, Options.MaxAddressesPerPeer);
            if (info is null || info.Peer == Self) continue;
            if (info.Addresses.Count > 0) _directory.AddAddresses(info.Peer, info.Addresses, ttl);
            result.Add(info);
        }
        return result;
    }

    private async Task RunPeriodicallyAsync(TimeSpan interval, Func<CancellationToken, Task> work, string name)
    {
        using var timer = new PeriodicTimer(interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try { await work(_stopping.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { return; }
                catch (Exception e) { Log.BackgroundFailed(_logger, name, e); }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    private IReadOnlyList<PeerId> Seeds(KadKey target)
    {
        var seeds = RoutingTable.NearestPeers(target, Options.BucketSize);
        return seeds.Count > 0 ? seeds : throw new DhtNoPeersException("the routing table is empty; bootstrap the DHT first");
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Debug, Message = "DHT peer {Peer} joined the routing table")]
        public static partial void PeerAdded(ILogger logger, PeerId peer);

        [LoggerMessage(Level = LogLevel.Debug, Message = "DHT peer {Peer} did not answer: {Reason}")]
        public static partial void PeerNotAlive(ILogger logger, PeerId peer, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "DHT request to {Peer} failed: {Reason}")]
        public static partial void RequestFailed(ILogger logger, PeerId peer, string reason);

        [LoggerMessage(Level = LogLevel.Information, Message = "DHT cleanup removed {Records} records and {Providers} provider records")]
        public static partial void Cleaned(ILogger logger, int records, int providers);

        [LoggerMessage(Level = LogLevel.Warning, Message = "DHT {Task} failed")]
        public static partial void BackgroundFailed(ILogger logger, string task, Exception error);

        [LoggerMessage(Level = LogLevel.Information, Message = "DHT bootstrap: {Reached} of {Total} bootstrap peers answered, {Size} peers in the routing table")]
        public static partial void Bootstrapped(ILogger logger, int reached, int total, int size);
    }
}
