using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Discovery.Signaling;

/// <summary>Runs host-to-host rendezvous in the DHT (when Kademlia is registered) and, on shutdown, announces this
/// node's departure from every swarm it joined.</summary>
public sealed class SignalingHostedService(SwarmSignaling signaling, IServiceProvider services) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _rendezvous = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<KademliaDht>() is { } dht && signaling.Options.HostRendezvousInterval > TimeSpan.Zero)
            _rendezvous = RunAsync(dht, _stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _rendezvous.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await signaling.DisposeAsync().ConfigureAwait(false); // LEFT for every joined swarm
    }

    private async Task RunAsync(KademliaDht dht, CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            using var timer = new PeriodicTimer(signaling.Options.HostRendezvousInterval);
            do
            {
                await signaling.RendezvousAsync(dht, cancellationToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
