using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Network;
using P2PStack.Protocols.Ping;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>Starts the peer host with the generic host, dials the bootstrap peers, and stops it on shutdown.</summary>
public sealed partial class PeerHostService(IPeerHost host, PingService ping, NodeConfig config, ILogger<PeerHostService> logger)
    : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _bootstrap = Task.CompletedTask;
    private IDisposable? _subscription;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Every new peer gets one ping, so status has a latency for inbound peers too. A further connection to a peer
        // connected already is no new peer: its latency is known, and a ping would only compete with the new
        // connection's own first streams.
        _subscription = host.Events.Subscribe<PeerConnected>(e =>
        {
            if (host.GetConnections(e.Connection.RemotePeer).Count <= 1) _ = MeasureLatencyAsync(e.Connection.RemotePeer, _stopping.Token);
        });
        await host.StartAsync(cancellationToken);
        _bootstrap = DialBootstrapPeersAsync(_stopping.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
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

    private async Task MeasureLatencyAsync(P2PStack.Identity.PeerId peer, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Yield();
            await ping.PingAsync(peer, 1, cancellationToken);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidDataException or InvalidOperationException)
        {
            LogNoLatency(peer.ToString(), e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "no latency sample from {Peer}: {Reason}")]
    private partial void LogNoLatency(string peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "bootstrap peer {Address} connected ({Peer})")]
    private partial void LogBootstrapConnected(string address, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "bootstrap peer {Address} unreachable: {Reason}")]
    private partial void LogBootstrapFailed(string address, string reason);
}
