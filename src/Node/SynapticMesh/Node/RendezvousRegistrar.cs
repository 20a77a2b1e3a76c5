using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Discovery.Rendezvous;
using P2PStack.Network;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>
/// Keeps this node registered under the configured namespaces at the configured rendezvous points
/// (<see cref="RendezvousConfig"/>): registers at start, renews at half the granted TTL, retries a failed point after
/// <see cref="RendezvousConfig.RetrySeconds"/>, and unregisters at a clean stop.
/// </summary>
public sealed partial class RendezvousRegistrar(IPeerHost host, RendezvousClient client, RendezvousConfig config,
    ILogger<RendezvousRegistrar> logger) : IHostedService
{
    private readonly TimeSpan _retryAfterFailure = TimeSpan.FromSeconds(config.RetrySeconds);
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.WhenAll(config.PointAddresses.Select(point => KeepRegisteredAsync(point, _stopping.Token)));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var point in config.PointAddresses)
        {
            foreach (string ns in config.Namespaces)
            {
                try
                {
                    await client.UnregisterAsync(point.GetPeerId()!, ns, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    LogUnregisterFailed(point.ToString(), ns, e.Message);
                }
            }
        }
        _stopping.Dispose();
    }

    private async Task KeepRegisteredAsync(P2PStack.Addressing.Multiaddr point, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var server = point.GetPeerId()!;
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan next = _retryAfterFailure;
            try
            {
                await host.DialAsync(point, cancellationToken); // reuses a connection if there is one
                TimeSpan granted = TimeSpan.MaxValue;
                foreach (string ns in config.Namespaces)
                {
                    var ttl = await client.RegisterAsync(server, ns, TimeSpan.FromSeconds(config.TtlSeconds), cancellationToken);
                    if (ttl < granted) granted = ttl;
                    LogRegistered(ns, point.ToString(), ttl.TotalSeconds);
                }
                next = granted / 2;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogRegisterFailed(point.ToString(), e.Message, _retryAfterFailure.TotalSeconds);
            }
            try
            {
                await Task.Delay(next, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "registered under {Namespace} at rendezvous point {Point} for {Seconds} s")]
    private partial void LogRegistered(string @namespace, string point, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "rendezvous registration at {Point} failed: {Error}; retrying in {Seconds} s")]
    private partial void LogRegisterFailed(string point, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "unregistering {Namespace} at {Point} failed: {Error}")]
    private partial void LogUnregisterFailed(string point, string @namespace, string error);
}
