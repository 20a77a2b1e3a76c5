using System.Collections.Immutable;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Nat.PortMapping;

/// <summary>The node's port mappings changed (a mapping was made, renewed to another port, or lost).</summary>
public sealed record PortMappingsChanged(IReadOnlyList<PortMappingResult> Mappings);

/// <summary>
/// Keeps the node's TCP listen ports mapped on the gateway: maps them once the host listens, renews each mapping
/// halfway through its lifetime, tries again after <see cref="PortMappingOptions.RetryInterval"/> when no protocol
/// worked, and removes the mappings on stop. The public addresses the mappings give are in <see cref="ExternalAddresses"/>
/// and the host's address manager (<see cref="IAddressManager.MappedAddresses"/>), which advertises them while the
/// mappings last; every change is also announced with <see cref="PortMappingsChanged"/> on the host's event bus.
/// </summary>
public sealed partial class PortMappingService : IHostedService, IAsyncDisposable
{
    private readonly IPeerHost _host;
    private readonly PortMapper _mapper;
    private readonly PortMappingMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private ImmutableArray<PortMappingResult> _mappings = [];
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    public PortMappingService(IPeerHost host, PortMapper mapper, PortMappingMetrics? metrics = null, ILogger<PortMappingService>? logger = null,
        TimeProvider? timeProvider = null)
    {
        _host = host;
        _mapper = mapper;
        _metrics = metrics;
        _logger = logger ?? NullLogger<PortMappingService>.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The mappings in place now.</summary>
    public IReadOnlyList<PortMappingResult> Mappings => _mappings;

    /// <summary>The last failure of every protocol, or null after a success.</summary>
    public PortMappingFailedException? LastError { get; private set; }

    /// <summary>What the mappings make the node reachable at: /ip4/EXTERNAL/tcp/PORT.</summary>
    public IReadOnlyList<Multiaddr> ExternalAddresses => ExternalAddressesOf(_mappings);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_mapper.Options.Protocols == PortMappingProtocols.None || _loop is not null) return Task.CompletedTask;
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
        var mappings = ImmutableInterlocked.InterlockedExchange(ref _mappings, []); // Interlocked.Exchange refuses a struct at run time
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_mapper.Options.RemoveTimeout);
        foreach (var mapping in mappings)
        {
            try
            {
                await _mapper.RemoveAsync(mapping, timeout.Token).ConfigureAwait(false);
                LogRemoved(mapping.Method, mapping.ExternalPort);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or P2PFormatException or System.Net.Sockets.SocketException)
            {
                LogRemoveFailed(mapping.Method, mapping.ExternalPort, ex.Message); // the lease ends it anyway
            }
        }
        Publish();
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                wait = await MapOrRenewAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            try
            {
                await Task.Delay(wait, _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: renews mappings that are due, maps ports that have none; returns when to come back.</summary>
    private async Task<TimeSpan> MapOrRenewAsync(CancellationToken cancellationToken)
    {
        var ports = _host.ListenAddresses
            .Where(a => a.Has(MultiaddrProtocols.Ip4) && a.Has(MultiaddrProtocols.Tcp) && !AddressScope.IsRelayed(a)
                && a.GetIPAddress() is { } ip && !System.Net.IPAddress.IsLoopback(ip))
            .Select(a => int.Parse(a.ValueOf(MultiaddrProtocols.Tcp)!, System.Globalization.CultureInfo.InvariantCulture))
            .Distinct().ToList();
        var next = _mapper.Options.RetryInterval;
        var now = _time.GetUtcNow();
        var current = new List<PortMappingResult>();
        bool changed = false;
        foreach (int port in ports)
        {
            var existing = _mappings.FirstOrDefault(m => m.InternalPort == port);
            try
            {
                PortMappingResult mapping;
                if (existing is not null && _renewAt.TryGetValue(port, out var due) && due > now)
                {
                    mapping = existing;
                }
                else
                {
                    mapping = existing is null
                        ? await _mapper.MapAsync(MappingProtocol.Tcp, port, cancellationToken).ConfigureAwait(false)
                        : await _mapper.RenewAsync(existing, cancellationToken).ConfigureAwait(false);
                    changed |= existing is null || existing.ExternalPort != mapping.ExternalPort || !existing.ExternalAddress.Equals(mapping.ExternalAddress);
                    _renewAt[port] = mapping.RenewAfter == Timeout.InfiniteTimeSpan ? DateTimeOffset.MaxValue : now + mapping.RenewAfter;
                    LastError = null;
                }
                current.Add(mapping);
                if (_renewAt[port] != DateTimeOffset.MaxValue && _renewAt[port] - now < next) next = _renewAt[port] - now;
            }
            catch (PortMappingFailedException ex)
            {
                LastError = ex;
                changed |= existing is not null;
                _renewAt.Remove(port);
            }
            catch (Exception ex) when (ex is IOException or P2PFormatException or System.Net.Sockets.SocketException)
            {
                // a renewal failed: the mapping is gone or going; map again next round
                LogRenewFailed(existing?.Method ?? "?", port, ex.Message);
                LastError = new PortMappingFailedException([ex]);
                changed = true;
                _renewAt.Remove(port);
            }
        }
        _mappings = [.. current];
        _metrics?.SetActive(current.Count);
        if (changed) Publish();
        return next < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : next;
    }

    private readonly Dictionary<int, DateTimeOffset> _renewAt = [];

    // The host advertises the mapped addresses (identify's listenAddrs and push, the signed peer record) until the
    // mapping is lost or removed; then the event for whoever watches the mappings themselves.
    private void Publish()
    {
        var mappings = _mappings;
        try
        {
            _host.AddressManager.SetMappedAddresses(ExternalAddressesOf(mappings));
        }
        catch (ResourceLimitExceededException ex)
        {
            LogNotAdvertised(ex.Message);
        }
        _host.Events.Publish(new PortMappingsChanged(mappings));
    }

    private static List<Multiaddr> ExternalAddressesOf(IEnumerable<PortMappingResult> mappings) =>
        [.. mappings.Select(m => Multiaddr.Parse($"/ip4/{m.ExternalAddress}/tcp/{m.ExternalPort}"))];

    [LoggerMessage(Level = LogLevel.Warning, Message = "mapped addresses not advertised: {Reason}")]
    private partial void LogNotAdvertised(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: mapping of port {Port} removed")]
    private partial void LogRemoved(string method, int port);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: removing the mapping of port {Port} failed: {Reason}")]
    private partial void LogRemoveFailed(string method, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method}: renewing the mapping of port {Port} failed: {Reason}")]
    private partial void LogRenewFailed(string method, int port, string reason);
}
