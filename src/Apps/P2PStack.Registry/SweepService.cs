using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Registry.Events;
using P2PStack.Registry.Storage;

namespace P2PStack.Registry;

/// <summary>
/// Every <see cref="RegistryOptions.SweepInterval"/>: approved nodes silent for <see cref="RegistryOptions.OfflineAfter"/>
/// go offline (they come back with their next heartbeat), expired nonces, old heartbeats and long-silent pending
/// nodes are forgotten.
/// </summary>
internal sealed partial class SweepService(RegistryOptions options, RegistryStore store, RegistryEventHub events, ILogger<SweepService> logger)
    : BackgroundService
{
    /// <summary>One sweep at <paramref name="now"/>; returns the nodes that went offline.</summary>
    public IReadOnlyList<string> SweepOnce(DateTimeOffset now)
    {
        long ms = now.ToUnixTimeMilliseconds();
        var offline = store.Sweep(ms, ms - (long)options.OfflineAfter.TotalMilliseconds,
            ms - (long)options.HeartbeatRetention.TotalMilliseconds, ms - (long)options.PendingRetention.TotalMilliseconds);
        foreach (var id in offline)
        {
            LogOffline(id);
            events.Publish(RegistryEventTypes.Offline, id, NodeStatus.Offline);
        }
        return offline;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.SweepInterval, options.TimeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    SweepOnce(options.TimeProvider.GetUtcNow());
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogSweepFailed(e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "node {NodeId} went offline (no heartbeat)")]
    private partial void LogOffline(string nodeId);

    [LoggerMessage(Level = LogLevel.Error, Message = "registry sweep failed")]
    private partial void LogSweepFailed(Exception error);
}
