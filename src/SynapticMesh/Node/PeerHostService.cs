using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Network;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>Starts the peer host with the generic host, dials the bootstrap peers, and stops it on shutdown.</summary>
public sealed partial class PeerHostService(IPeerHost host, NodeConfig config, ILogger<PeerHostService> logger) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _bootstrap = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await host.StartAsync(cancellationToken);
        _bootstrap = DialBootstrapPeersAsync(_stopping.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _bootstrap.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await host.StopAsync(cancellationToken);
        _stopping.Dispose();
    }

    private async Task DialBootstrapPeersAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(config.BootstrapAddresses.Select(async address =>
        {
            try
            {
                var connection = await host.DialAsync(address, cancellationToken);
                LogBootstrapConnected(address.ToString(), connection.RemotePeer.ToString());
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                LogBootstrapFailed(address.ToString(), e.Message);
            }
        }));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "bootstrap peer {Address} connected ({Peer})")]
    private partial void LogBootstrapConnected(string address, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "bootstrap peer {Address} unreachable: {Reason}")]
    private partial void LogBootstrapFailed(string address, string reason);
}
