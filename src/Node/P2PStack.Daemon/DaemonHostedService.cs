using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Network;

namespace P2PStack.Daemon;

/// <summary>
/// Starts the host, connects to the bootstrap peers when asked to, then opens the control socket; on shutdown closes
/// the control socket first (ending client streams and feeds), then the host.
/// </summary>
public sealed partial class DaemonHostedService(IPeerHost host, DaemonControlServer control, DaemonNodeSettings settings,
    ILogger<DaemonHostedService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        if (settings.Bootstrap) await ConnectBootstrapPeersAsync(cancellationToken).ConfigureAwait(false);
        control.Start();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await control.DisposeAsync().ConfigureAwait(false);
        await host.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task ConnectBootstrapPeersAsync(CancellationToken cancellationToken)
    {
        var results = await Task.WhenAll(settings.BootstrapPeers.Select(async address =>
        {
            try
            {
                await host.DialAsync(address, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogBootstrapFailed(address.ToString(), e.Message);
                return false;
            }
        })).ConfigureAwait(false);
        LogBootstrapped(results.Count(r => r), results.Length);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "bootstrap peer {Address} unreachable: {Reason}")]
    private partial void LogBootstrapFailed(string address, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "connected to {Connected} of {Total} bootstrap peers")]
    private partial void LogBootstrapped(int connected, int total);
}
