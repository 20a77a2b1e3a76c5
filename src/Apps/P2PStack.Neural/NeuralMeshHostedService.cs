using Microsoft.Extensions.Hosting;

namespace P2PStack.Neural;

/// <summary>
/// Starts what the options ask for once the generic host runs: registers the configured agents, joins the configured
/// swarms, and republishes local agents' DHT records periodically. Stops the mesh on shutdown.
/// </summary>
public sealed class NeuralMeshHostedService(NeuralMesh mesh) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _republish = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var swarm in mesh.Options.Swarms) await mesh.JoinSwarmAsync(swarm, cancellationToken).ConfigureAwait(false);
        _republish = RunAsync(_stopping.Token);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _republish.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await mesh.DisposeAsync().ConfigureAwait(false);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        try
        {
            // The first publication usually finds no DHT peers yet; the periodic one then reaches them.
            foreach (var agent in mesh.Options.Agents) await mesh.RegisterAgentAsync(agent, cancellationToken).ConfigureAwait(false);
            if (mesh.Options.AgentRepublishInterval <= TimeSpan.Zero) return;
            using var timer = new PeriodicTimer(mesh.Options.AgentRepublishInterval);
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                await mesh.RepublishAgentsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
