using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Nat.AutoNat;

/// <summary>
/// Finds the node's reachability: every round it asks up to <see cref="AutoNatOptions.ServersPerRound"/> connected
/// AutoNAT servers (v2 preferred, v1 for older peers) to dial back its candidate addresses, feeds the answers to a
/// <see cref="ReachabilityTracker"/> and publishes <see cref="ReachabilityChanged"/> on the host's event bus when a
/// verdict changes. Rounds come every <see cref="AutoNatOptions.ProbeInterval"/> while the verdict is unknown, every
/// <see cref="AutoNatOptions.RecheckInterval"/> after.
/// </summary>
public sealed partial class AutoNatService : IHostedService, IAsyncDisposable
{
    private readonly IPeerHost _host;
    private readonly AutoNatClient _client;
    private readonly AutoNatOptions _options;
    private readonly AutoNatMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly List<Func<IReadOnlyList<Multiaddr>>> _candidateSources = [];
    private CancellationTokenSource? _stopping;
    private Task? _loop;
    private int _nextServer;

    public AutoNatService(IPeerHost host, AutoNatClient client, IOptions<AutoNatOptions> options, AutoNatMetrics? metrics = null,
        ILogger<AutoNatService>? logger = null, TimeProvider? timeProvider = null)
    {
        _host = host;
        _client = client;
        _options = options.Value;
        _metrics = metrics;
        _logger = logger ?? NullLogger<AutoNatService>.Instance;
        _time = timeProvider ?? TimeProvider.System;
        Tracker = new ReachabilityTracker(_options, _time);
    }

    public ReachabilityTracker Tracker { get; }

    /// <summary>The node's reachability as found so far.</summary>
    public Reachability Reachability => Tracker.Node;

    /// <summary>Adds a source of addresses to test beside the host's advertised ones (observed or mapped addresses).</summary>
    public void AddCandidateSource(Func<IReadOnlyList<Multiaddr>> source)
    {
        lock (_candidateSources) _candidateSources.Add(source);
    }

    /// <summary>The addresses worth testing: dialable by others, not relayed, public unless private ones are allowed.</summary>
    public IReadOnlyList<Multiaddr> Candidates()
    {
        IEnumerable<Multiaddr> all = _host.AdvertisedAddresses;
        lock (_candidateSources)
        {
            foreach (var source in _candidateSources) all = all.Concat(source());
        }
        return [.. all.Where(a => DialBackPolicy.IsDialable(a, _options.AllowPrivateAddresses, true, true)).Distinct()];
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.EnableClient || _loop is not null) return Task.CompletedTask;
        _stopping = new CancellationTokenSource();
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loop is null) return;
        await _stopping!.CancelAsync().ConfigureAwait(false);
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        _loop = null;
        _stopping.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await ProbeRoundAsync(stopping).ConfigureAwait(false);
                var wait = Tracker.Node == Reachability.Unknown ? _options.ProbeInterval : _options.RecheckInterval;
                await Task.Delay(wait, _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One round: each chosen server tests the candidates. Returns the results that arrived.</summary>
    public async Task<IReadOnlyList<AutoNatProbeResult>> ProbeRoundAsync(CancellationToken cancellationToken)
    {
        var candidates = Candidates();
        var results = new List<AutoNatProbeResult>();
        if (candidates.Count == 0) return results;
        foreach (var (server, version) in PickServers())
        {
            try
            {
                if (version == 2)
                {
                    // v2 tests one address per request: ask about each candidate in turn.
                    foreach (var address in candidates)
                        results.Add(await _client.ProbeV2Async(server, [address], cancellationToken).ConfigureAwait(false));
                }
                else
                {
                    results.Add(await _client.ProbeV1Async(server, candidates, cancellationToken).ConfigureAwait(false));
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested
                && ex is IOException or OperationCanceledException or P2PFormatException or InvalidOperationException)
            {
                LogProbeFailed(server, ex.Message);
            }
        }
        bool changed = false;
        foreach (var result in results) changed |= Tracker.Record(result);
        if (changed)
        {
            var node = Tracker.Node;
            // The address manager stops advertising addresses found private and advertises those found public.
            var verdicts = Tracker.Addresses;
            foreach (var (address, verdict) in verdicts) _host.AddressManager.SetReachability(address, verdict);
            _metrics?.SetReachability(node);
            LogReachability(node);
            _host.Events.Publish(new ReachabilityChanged(node, verdicts));
        }
        return results;
    }

    private List<(PeerId Server, int Version)> PickServers()
    {
        var peers = _host.GetConnections().Where(c => c.IsDirect).Select(c => c.RemotePeer).Distinct().ToList();
        var servers = new List<(PeerId, int)>();
        if (peers.Count == 0) return servers;
        int start = Interlocked.Increment(ref _nextServer);
        for (int i = 0; i < peers.Count && servers.Count < _options.ServersPerRound; i++)
        {
            var peer = peers[(start + i) % peers.Count];
            var protocols = _host.PeerStore.GetProtocols(peer);
            if (protocols.Contains(AutoNatProtocol.V2DialRequest)) servers.Add((peer, 2));
            else if (protocols.Contains(AutoNatProtocol.V1)) servers.Add((peer, 1));
        }
        return servers;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT probe with {Server} failed: {Reason}")]
    private partial void LogProbeFailed(PeerId server, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "AutoNAT: reachability is {Reachability}")]
    private partial void LogReachability(Reachability reachability);
}
