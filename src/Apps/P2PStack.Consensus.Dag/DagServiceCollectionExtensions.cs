using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using P2PStack.Consensus.Dag;
using P2PStack.Neural;
using P2PStack.Neural.Messages;

namespace P2PStack;

public static class DagServiceCollectionExtensions
{
    /// <summary>
    /// Adds DAG consensus: <see cref="DagConsensus"/> (as <see cref="IDagConsensus"/>), the neural handlers of its
    /// consensus proposals and votes, and <see cref="DagConsensusHostedService"/>. Adds the neural mesh too when it is
    /// missing. Open membership (no validator set) needs <c>AddGossipSub()</c> for the membership swarm.
    /// </summary>
    public static IP2PBuilder AddDagConsensus(this IP2PBuilder builder, Action<DagConsensusOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(DagConsensus)))
        {
            // Registered already: only more configuration (handlers must not be registered twice).
            if (configure is not null) services.Configure(configure);
            return builder;
        }
        if (!services.Any(d => d.ServiceType == typeof(NeuralMesh))) builder.AddNeuralMesh();
        services.AddOptions<DagConsensusOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) services.Configure(configure);
        services.TryAddSingleton<DagConsensus>();
        services.TryAddSingleton<IDagConsensus>(sp => sp.GetRequiredService<DagConsensus>());
        services.AddScoped<INeuralMessageHandler<ConsensusProposal>, DagProposalHandler>();
        services.AddScoped<INeuralMessageHandler<ConsensusVote>, DagVoteHandler>();
        services.TryAddSingleton<DagConsensusHostedService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<DagConsensusHostedService>());
        return builder;
    }
}
