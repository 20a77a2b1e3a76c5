using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Ping;

namespace SynapticMesh.Node;

/// <summary>Settings of <see cref="PeerRttProbe"/>.</summary>
public sealed class PeerRttProbeOptions
{
    /// <summary>How often every connected peer is pinged once.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Budget of one ping.</summary>
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Pings in flight at once.</summary>
    public int Concurrency { get; set; } = 4;

    /// <summary>Most peers pinged per round.</summary>
    public int MaxPeers { get; set; } = 256;
}

/// <summary>
/// Keeps the peer store's round-trip times current (the RTT metrics and the registry's links read them): every
/// <see cref="PeerRttProbeOptions.Interval"/> each connected peer gets one /ipfs/ping/1.0.0 round trip.
/// </summary>
public sealed partial class PeerRttProbe(IPeerHost host, PingService ping, PeerRttProbeOptions options, ILogger<PeerRttProbe> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false)) await ProbeAllAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One round: pings each connected peer once.</summary>
    public async Task ProbeAllAsync(CancellationToken cancellationToken)
    {
        var peers = host.GetConnections().Select(c => c.RemotePeer).Distinct().Take(options.MaxPeers).ToList();
        await Parallel.ForEachAsync(peers, new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken },
            async (peer, token) => await ProbeAsync(peer, token).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private async Task ProbeAsync(PeerId peer, CancellationToken cancellationToken)
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(options.PingTimeout);
        try
        {
            await ping.PingAsync(peer, 1, budget.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is OperationCanceledException or IOException
            or InvalidDataException or InvalidOperationException or ProtocolNotSupportedException or P2PStack.P2PFormatException)
        {
            LogNoSample(peer.ToString(), e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "no round-trip sample from {Peer}: {Reason}")]
    private partial void LogNoSample(string peer, string reason);
}
