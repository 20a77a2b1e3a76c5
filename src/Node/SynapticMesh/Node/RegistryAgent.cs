using System.Net;
using Microsoft.Extensions.Logging;
using P2PStack.Discovery;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Registry;

namespace SynapticMesh.Node;

/// <summary>Settings of <see cref="RegistryAgent"/> (<c>p2p start --registry URL</c>).</summary>
public sealed class RegistryAgentOptions
{
    /// <summary>How often the node heartbeats (the registry marks it offline after its own interval, 5 minutes by default).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The name shown in the registry.</summary>
    public string? Name { get; set; }

    /// <summary>Learn active peers from the registry after each heartbeat and dial some of them.</summary>
    public bool Discover { get; set; } = true;

    /// <summary>Most discovered peers dialed per round.</summary>
    public int MaxDialsPerRound { get; set; } = 8;

    /// <summary>How long addresses learned from the registry stay in the peer store.</summary>
    public TimeSpan DiscoveredAddressTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Limits the registry enforces by default; the agent stays within them.</summary>
    public int MaxAddresses { get; set; } = 32;

    public int MaxServices { get; set; } = 32;

    public int MaxConnections { get; set; } = 256;
}

/// <summary>
/// The node's side of the registry: registers (signed with the node's key), heartbeats with its connections and
/// their round-trip times, reports its metrics endpoint, and discovers active peers (source "registry"). Survives
/// a registry that is down, restarted or that forgot it: it retries every interval and registers again on 404.
/// </summary>
public sealed partial class RegistryAgent : IAsyncDisposable
{
    public const string DiscoverySource = "registry";

    private readonly RegistryClient _client;
    private readonly IPeerHost _host;
    private readonly RegistryAgentOptions _options;
    private readonly string? _metricsUrl;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private bool _registered;
    private string? _lastStatus;

    public RegistryAgent(RegistryClient client, IPeerHost host, RegistryAgentOptions options, Uri? metricsUrl, ILogger<RegistryAgent> logger)
    {
        _client = client;
        _host = host;
        _options = options;
        _logger = logger;
        _metricsUrl = metricsUrl is null ? null : ReportableMetricsUrl(metricsUrl, client.BaseAddress);
        if (metricsUrl is not null && _metricsUrl is null) LogMetricsNotReported(metricsUrl.ToString(), client.BaseAddress.ToString());
    }

    /// <summary>The status the registry gave in its last answer (pending, active, offline, denied), or null before any.</summary>
    public string? Status => Volatile.Read(ref _lastStatus);

    /// <summary>Registers once now (the start line reports the outcome), then heartbeats in the background.</summary>
    /// <returns>The registration's answer, or the error that prevented it (the agent keeps trying).</returns>
    public async Task<(NodeStatusResponse? Registered, string? Error)> StartAsync(CancellationToken cancellationToken)
    {
        (NodeStatusResponse?, string?) first;
        try
        {
            first = (await RegisterAsync(cancellationToken).ConfigureAwait(false), null);
            if (_options.Discover) await DiscoverAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsRegistryFailure(e) && !cancellationToken.IsCancellationRequested)
        {
            LogRegistryFailed("register", Describe(e));
            first = (null, Describe(e));
        }
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return first;
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await BeatAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsRegistryFailure(e) && !cancellationToken.IsCancellationRequested)
                {
                    LogRegistryFailed(_registered ? "heartbeat" : "register", Describe(e));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One round: register if needed, heartbeat, discover.</summary>
    public async Task BeatAsync(CancellationToken cancellationToken)
    {
        if (!_registered) await RegisterAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = await _client.HeartbeatAsync(Heartbeat(), cancellationToken).ConfigureAwait(false);
            SetStatus(answer.Status);
        }
        catch (RegistryRequestException e) when (e.Status == 404)
        {
            // The registry lost us (its database was reset, or we were forgotten as pending): register again.
            _registered = false;
            await RegisterAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_options.Discover) await DiscoverAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<NodeStatusResponse> RegisterAsync(CancellationToken cancellationToken)
    {
        var request = new RegisterRequest
        {
            NodeId = _host.PeerId.ToString(),
            Name = _options.Name,
            Addresses = [.. AddressDisplay.Dialable(_host.ListenAddresses, _host.PeerId).Take(_options.MaxAddresses)],
            Services = [.. _host.Protocols.Order(StringComparer.Ordinal).Take(_options.MaxServices).Select(p => new ServiceInfo(p, p))],
            MetricsUrl = _metricsUrl,
            Metadata = new Dictionary<string, string> { ["agent"] = $"synaptic-mesh/{typeof(RegistryAgent).Assembly.GetName().Version}" },
        };
        var answer = await _client.RegisterAsync(request, cancellationToken).ConfigureAwait(false);
        _registered = true;
        SetStatus(answer.Status);
        return answer;
    }

    /// <summary>The heartbeat body: connected peers (one entry per peer) with the peer store's round-trip times.</summary>
    public HeartbeatRequest Heartbeat()
    {
        var connections = _host.GetConnections()
            .GroupBy(c => c.RemotePeer)
            .Select(g => g.OrderBy(c => c.OpenedAt).First())
            .OrderBy(c => c.RemotePeer.ToString(), StringComparer.Ordinal)
            .Take(_options.MaxConnections)
            .Select(c => new ConnectionReport(c.RemotePeer.ToString(), Rtt(_host.PeerStore.GetLatency(c.RemotePeer)),
                c.LocalAddress.ToString(), c.RemoteAddress.ToString()))
            .ToList();
        return new HeartbeatRequest { Connections = connections };
    }

    private static RttStats? Rtt(LatencyStats? stats) => stats is null ? null
        : new RttStats(stats.Current.TotalMilliseconds, stats.Min.TotalMilliseconds, stats.Max.TotalMilliseconds, stats.Average.TotalMilliseconds);

    /// <summary>Active peers from the registry into the peer store (published as discovered); dials a few not yet connected.</summary>
    private async Task DiscoverAsync(CancellationToken cancellationToken)
    {
        if (Status != NodeStatus.Active) return; // only approved nodes may read the registry remotely
        var found = await RegistryDiscovery.FindActiveAsync(_client, _host.PeerId, cancellationToken).ConfigureAwait(false);
        var connected = _host.GetConnections().Select(c => c.RemotePeer).ToHashSet();
        var dials = new List<Task>();
        foreach (var node in found)
        {
            _host.PeerStore.AddAddresses(node.Peer, node.Addresses, _options.DiscoveredAddressTtl);
            _host.Events.Publish(new PeerDiscovered(node.Peer, node.Addresses, DiscoverySource));
            if (!connected.Contains(node.Peer) && dials.Count < _options.MaxDialsPerRound) dials.Add(DialAsync(node.Peer, cancellationToken));
        }
        await Task.WhenAll(dials).ConfigureAwait(false);
    }

    private async Task DialAsync(PeerId peer, CancellationToken cancellationToken)
    {
        try
        {
            await _host.DialAsync(peer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not OutOfMemoryException)
        {
            LogDialFailed(peer.ToString(), e.Message);
        }
    }

    private void SetStatus(string status)
    {
        string? previous = Interlocked.Exchange(ref _lastStatus, status);
        if (previous != status) LogStatus(status);
    }

    /// <summary>
    /// The metrics URL to report: a loopback endpoint is only useful to a registry (and its Prometheus) on the same
    /// machine, and the registry refuses URLs that are not the node's own address, so it is left out otherwise.
    /// </summary>
    public static string? ReportableMetricsUrl(Uri metrics, Uri registry)
    {
        bool metricsLoopback = IPAddress.TryParse(metrics.IdnHost, out var m) && IPAddress.IsLoopback(m);
        bool registryLoopback = registry.IsLoopback;
        return !metricsLoopback || registryLoopback ? metrics.ToString() : null;
    }

    private static bool IsRegistryFailure(Exception e) =>
        e is RegistryRequestException or HttpRequestException or OperationCanceledException or IOException;

    private static string Describe(Exception e) => e switch
    {
        RegistryRequestException r => $"refused ({r.Status}): {r.Message}",
        OperationCanceledException => "no answer in time",
        _ => e.Message,
    };

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
        _client.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "registry status: {Status}")]
    private partial void LogStatus(string status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "registry {Operation} failed: {Reason} (retrying every heartbeat interval)")]
    private partial void LogRegistryFailed(string operation, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "dial of {Peer} (found in the registry) failed: {Reason}")]
    private partial void LogDialFailed(string peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "metrics endpoint {Metrics} is loopback-only and the registry {Registry} is not on this machine: not reported")]
    private partial void LogMetricsNotReported(string metrics, string registry);
}
