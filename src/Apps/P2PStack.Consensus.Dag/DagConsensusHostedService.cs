using Microsoft.Extensions.Hosting;

namespace P2PStack.Consensus.Dag;

/// <summary>Starts DAG consensus with the generic host and stops it (before the neural mesh, which was registered
/// first and so stops later).</summary>
public sealed class DagConsensusHostedService(DagConsensus consensus) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => consensus.StartAsync(cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken) => await consensus.DisposeAsync().ConfigureAwait(false);
}
