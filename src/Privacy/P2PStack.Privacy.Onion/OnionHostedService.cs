using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.Onion;

/// <summary>
/// Runs the onion module with the host (start it after the host): listens on <c>/p2p-onion</c> when the node accepts
/// circuit connections; when it relays, serves the relay protocol and publishes its descriptor (now, every
/// <see cref="OnionRelayOptions.DescriptorRefresh"/>, and at once after an onion key rotation or an address change);
/// as a client, refreshes the directory and keeps circuits maintained. Stopping destroys the relay's circuits and the
/// client's.
/// </summary>
public sealed partial class OnionHostedService(IPeerHost host, IOptions<OnionOptions> options, OnionRelay relay, OnionClient client,
    RelayDirectory directory, DestinationHandler destination, IServiceProvider services, ILogger<OnionHostedService> logger)
    : IHostedService, IAsyncDisposable
{
    private readonly OnionOptions _options = options.Value;
    private readonly ILogger _logger = logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IDisposable> _registrations = [];
    private readonly List<Task> _loops = [];
    private readonly SemaphoreSlim _publishNow = new(0, 1);
    private IHostListener? _listener;
    private int _started;

    /// <summary>Completes after the first directory refresh (or at once without a client).</summary>
    public Task FirstRefresh { get; private set; } = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) return;
        if (_options.AcceptCircuitConnections)
        {
            _registrations.Add(host.AddHandler(destination));
            _listener = await host.ListenAsync(OnionAddress.Listen, cancellationToken).ConfigureAwait(false);
        }
        if (_options.Relay.Enabled)
        {
            _registrations.Add(host.AddHandler(relay));
            _registrations.Add(host.Events.Subscribe<LocalAddressesChanged>(_ => PublishSoon()));
            _loops.Add(PublishLoopAsync(_stopping.Token));
        }
        if (_options.EnableClient)
        {
            var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            FirstRefresh = first.Task;
            _loops.Add(DirectoryLoopAsync(first, _stopping.Token));
            _loops.Add(MaintenanceLoopAsync(_stopping.Token));
        }
    }

    /// <summary>Publishes the relay's descriptor now (tests and the CLI call it after the DHT is up).</summary>
    public async Task<int> PublishDescriptorAsync(CancellationToken cancellationToken)
    {
        var dht = services.GetService<KademliaDht>();
        if (dht is null) return 0;
        var signed = relay.SignedDescriptor();
        int stored = await dht.PutValueAsync(RelayDescriptors.KeyFor(host.PeerId), signed, cancellationToken).ConfigureAwait(false);
        await dht.ProvideAsync(RelayDescriptors.IndexKey(RelayDescriptors.ShardOf(host.PeerId, _options.Directory.IndexShards)), cancellationToken)
            .ConfigureAwait(false);
        LogPublished(stored);
        return stored;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await relay.StopAsync().ConfigureAwait(false);
        await client.DisposeAsync().ConfigureAwait(false);
        if (_listener is not null) await _listener.DisposeAsync().ConfigureAwait(false);
        foreach (var registration in _registrations) registration.Dispose();
        _registrations.Clear();
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private void PublishSoon()
    {
        try
        {
            _publishNow.Release();
        }
        catch (SemaphoreFullException)
        {
            // already pending
        }
    }

    private async Task PublishLoopAsync(CancellationToken token)
    {
        await Task.Yield();
        while (!token.IsCancellationRequested)
        {
            int stored = 0;
            try
            {
                relay.Keys.RotateIfDue();
                stored = await PublishDescriptorAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                LogPublishFailed(e.Message);
            }
            // Sooner while no DHT peer has stored it: a fresh node's routing table is still filling.
            var refresh = stored == 0 ? TimeSpan.FromTicks(Math.Min(_options.Relay.DescriptorRefresh.Ticks, _options.Relay.DescriptorRetry.Ticks))
                : _options.Relay.DescriptorRefresh;
            var next = TimeSpan.FromTicks(Math.Min(refresh.Ticks,
                Math.Max(TimeSpan.FromSeconds(1).Ticks, (relay.Keys.NextRotation - relay.Time.GetUtcNow()).Ticks)));
            try
            {
                await _publishNow.WaitAsync(next, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task DirectoryLoopAsync(TaskCompletionSource first, CancellationToken token)
    {
        await Task.Yield();
        while (!token.IsCancellationRequested)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                int relays = await directory.RefreshAsync(token).ConfigureAwait(false);
                LogRefreshed(relays);
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                LogRefreshFailed(e.Message);
            }
            finally
            {
                first.TrySetResult();
            }
            try
            {
                // Sooner while the directory holds fewer relays than a path needs: a fresh node waits for the DHT to fill.
                var wait = directory.Relays.Count < _options.Client.DefaultHops ? TimeSpan.FromTicks(Math.Min(_options.Directory.RefreshInterval.Ticks, _options.Directory.SparseRefreshInterval.Ticks))
                    : _options.Directory.RefreshInterval;
                // Or at once when an operation waits for relays (RelayDirectory.RequestRefresh), one refresh at a time.
                if (await directory.WaitForRefreshRequestAsync(wait, token).ConfigureAwait(false))
                {
                    var since = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                    if (since < _options.Directory.RequestedRefreshMinInterval)
                        await Task.Delay(_options.Directory.RequestedRefreshMinInterval - since, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task MaintenanceLoopAsync(CancellationToken token)
    {
        await Task.Yield();
        using var timer = new PeriodicTimer(_options.Client.MaintenanceInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
            {
                try
                {
                    await client.MaintainAsync(token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    LogMaintenanceFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay descriptor published to {Peers} DHT peers")]
    private partial void LogPublished(int peers);

    [LoggerMessage(Level = LogLevel.Information, Message = "Publishing the relay descriptor failed: {Reason}")]
    private partial void LogPublishFailed(string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Onion directory refreshed: {Relays} relays")]
    private partial void LogRefreshed(int relays);

    [LoggerMessage(Level = LogLevel.Information, Message = "Onion directory refresh failed: {Reason}")]
    private partial void LogRefreshFailed(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Onion circuit maintenance failed: {Reason}")]
    private partial void LogMaintenanceFailed(string reason);
}
