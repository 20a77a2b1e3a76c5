using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.Onion.Directory;

/// <summary>
/// A client's directory of relays: verified, unexpired descriptors of relays that speak this network's cell size and
/// protocol. Filled from the DHT (the index shards' providers, then each relay's descriptor record) on a schedule, or
/// directly with signed descriptors. Every descriptor is checked (signature by the relay's identity, expiry, fields);
/// rejected ones are dropped and counted by reason. The table is filled from outside input, so it is bounded.
/// </summary>
public sealed partial class RelayDirectory
{
    private readonly ConcurrentDictionary<PeerId, RelayInfo> _relays = new();
    private readonly OnionOptions _options;
    private readonly OnionMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IServiceProvider? _services;
    private TaskCompletionSource _changed = NewSignal();
    // Set by RequestRefresh, taken by the directory loop (OnionHostedService); requests coalesce.
    private readonly SemaphoreSlim _refreshRequested = new(0, 1);

    public RelayDirectory(IOptions<OnionOptions> options, OnionMetrics metrics, ILogger<RelayDirectory> logger,
        IServiceProvider? services = null, TimeProvider? time = null)
    {
        _options = options.Value;
        _metrics = metrics;
        _logger = logger;
        _services = services;
        _time = time ?? TimeProvider.System;
        metrics.ObserveDirectory(() => Relays.Count);
    }

    /// <summary>Usable relays now: unexpired, this network's cell size and protocol.</summary>
    public IReadOnlyList<RelayInfo> Relays
    {
        get
        {
            var now = _time.GetUtcNow();
            return [.. _relays.Values.Where(r => r.ExpiresAt > now && r.CellSize == _options.CellSize && r.Protocol == _options.ProtocolId)];
        }
    }

    /// <summary>
    /// Completes when a relay is next added or its descriptor replaced. A waiter takes it before it looks at
    /// <see cref="Relays"/> and awaits it after, so no change between the look and the wait is missed.
    /// </summary>
    public Task NextChange => Volatile.Read(ref _changed).Task;

    /// <summary>
    /// Asks for a refresh now rather than at the next scheduled one (<see cref="OnionDirectoryOptions.SparseRefreshInterval"/>
    /// on a fresh node): an operation is waiting for relays (<see cref="Client.OnionClient.WaitForPathAsync"/>). Requests
    /// coalesce, and the directory loop runs them at most once per <see cref="OnionDirectoryOptions.RequestedRefreshMinInterval"/>.
    /// </summary>
    public void RequestRefresh()
    {
        try
        {
            _refreshRequested.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already requested.
        }
    }

    /// <summary>Waits <paramref name="delay"/> or until a refresh is requested; true when requested.</summary>
    internal Task<bool> WaitForRefreshRequestAsync(TimeSpan delay, CancellationToken cancellationToken) =>
        _refreshRequested.WaitAsync(delay, cancellationToken);

    public RelayInfo? Get(PeerId relay) => _relays.TryGetValue(relay, out var info) && info.ExpiresAt > _time.GetUtcNow() ? info : null;

    /// <summary>Verifies a signed descriptor and keeps it (replacing an older one of the same relay).</summary>
    /// <returns>The relay, or null when the descriptor was rejected (counted by reason, logged at debug level).</returns>
    public RelayInfo? TryAdd(ReadOnlySpan<byte> signedDescriptor)
    {
        RelayInfo info;
        try
        {
            info = RelayDescriptors.Open(signedDescriptor, _time.GetUtcNow(), _options.Directory.MaxDescriptorLifetime);
        }
        catch (DescriptorException e)
        {
            _metrics.DescriptorRejected(e.Reason);
            LogRejected(e.Reason, e.Message);
            return null;
        }
        if (info.CellSize != _options.CellSize)
        {
            _metrics.DescriptorRejected("cell_size");
            return null;
        }
        if (_relays.TryGetValue(info.Peer, out var existing) && existing.PublishedAt > info.PublishedAt) return existing;
        if (!_relays.ContainsKey(info.Peer) && _relays.Count >= _options.Directory.MaxRelays)
        {
            RemoveExpired();
            if (_relays.Count >= _options.Directory.MaxRelays)
            {
                _metrics.DescriptorRejected("directory_full");
                return null;
            }
        }
        _relays[info.Peer] = info;
        Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();
        return info;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Forgets a relay (e.g. it was found to misbehave).</summary>
    public bool Forget(PeerId relay) => _relays.TryRemove(relay, out _);

    /// <summary>Drops expired descriptors; returns how many.</summary>
    public int RemoveExpired()
    {
        var now = _time.GetUtcNow();
        int removed = 0;
        foreach (var (peer, info) in _relays)
        {
            if (info.ExpiresAt > now) continue;
            if (_relays.TryRemove(peer, out _))
            {
                removed++;
                _metrics.DescriptorRejected("expired");
            }
        }
        return removed;
    }

    /// <summary>
    /// Asks the DHT for relays: the providers of every index shard, then the descriptor record of each relay not known
    /// or about to expire. Returns the number of usable relays after the refresh. Without a DHT it only drops expired
    /// descriptors.
    /// </summary>
    public async Task<int> RefreshAsync(CancellationToken cancellationToken)
    {
        RemoveExpired();
        var dht = _services?.GetService<KademliaDht>();
        if (dht is null) return Relays.Count;
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_options.Directory.RefreshTimeout);
        var found = new ConcurrentDictionary<PeerId, byte>();
        await Task.WhenAll(Enumerable.Range(0, _options.Directory.IndexShards).Select(async shard =>
        {
            try
            {
                var providers = await dht.FindProvidersAsync(RelayDescriptors.IndexKey(shard), budget.Token).ConfigureAwait(false);
                foreach (var provider in providers) found.TryAdd(provider.Peer, 0);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogRefreshStepFailed("providers", e.Message);
            }
        })).ConfigureAwait(false);
        var soon = _time.GetUtcNow() + _options.Directory.RefreshInterval;
        var wanted = found.Keys.Where(p => Get(p) is not { } known || known.ExpiresAt < soon).Take(_options.Directory.MaxRelays).ToList();
        await Parallel.ForEachAsync(wanted, new ParallelOptions { MaxDegreeOfParallelism = _options.Directory.FetchConcurrency, CancellationToken = budget.Token },
            async (relay, token) =>
            {
                try
                {
                    var value = await dht.GetValueAsync(RelayDescriptors.KeyFor(relay), token).ConfigureAwait(false);
                    TryAdd(value);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    LogRefreshStepFailed("descriptor", e.Message);
                }
            }).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return Relays.Count;
    }

    /// <summary>Fetches one relay's descriptor record from the DHT (a shadow address's introduction point this node has
    /// not met yet) and keeps it when it verifies; the relay's info, or null (no DHT, not found, invalid).</summary>
    public async Task<RelayInfo?> FetchAsync(PeerId relay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(relay);
        if (Get(relay) is { } known) return known;
        var dht = _services?.GetService<KademliaDht>();
        if (dht is null) return null;
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_options.Directory.RefreshTimeout);
        try
        {
            var value = await dht.GetValueAsync(RelayDescriptors.KeyFor(relay), budget.Token).ConfigureAwait(false);
            var added = TryAdd(value);
            return added is not null && added.Peer.Equals(relay) ? added : null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogRefreshStepFailed("descriptor", e.Message);
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay descriptor rejected ({Reason}): {Detail}")]
    private partial void LogRejected(string reason, string detail);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Directory refresh step {Step} failed: {Reason}")]
    private partial void LogRefreshStepFailed(string step, string reason);
}
