using P2PStack.Neural;
using P2PStack.Neural.Messages;

namespace P2PStack.Consensus.Dag;

/// <summary>Takes this DAG's consensus proposals (queries, vertex requests and batches, frontiers, announcements) from
/// the neural mesh; proposals of other DAGs or applications are left alone.</summary>
internal sealed class DagProposalHandler(DagConsensus consensus) : INeuralMessageHandler<ConsensusProposal>
{
    public ValueTask HandleAsync(ReceivedMessage<ConsensusProposal> message, CancellationToken cancellationToken)
    {
        if (message.Body.ProposalId != consensus.Options.ProtocolTag) return ValueTask.CompletedTask;
        bool viaSwarm = message.Destination.Kind == DestinationKind.Swarm;
        if (viaSwarm && message.Destination.Name != consensus.Options.SwarmName) return ValueTask.CompletedTask;
        try
        {
            consensus.Deliver(message.SourcePeer, DagWire.FromProposal(message.Body), viaSwarm);
        }
        catch (DagFormatException e)
        {
            consensus.Refuse(e.Reason, message.SourcePeer, e.Message);
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>Takes this DAG's votes from the neural mesh.</summary>
internal sealed class DagVoteHandler(DagConsensus consensus) : INeuralMessageHandler<ConsensusVote>
{
    public ValueTask HandleAsync(ReceivedMessage<ConsensusVote> message, CancellationToken cancellationToken)
    {
        if (message.Body.ProposalId != consensus.Options.ProtocolTag) return ValueTask.CompletedTask;
        try
        {
            consensus.Deliver(message.SourcePeer, DagWire.FromVote(message.Body), message.Destination.Kind == DestinationKind.Swarm);
        }
        catch (DagFormatException e)
        {
            consensus.Refuse(e.Reason, message.SourcePeer, e.Message);
        }
        return ValueTask.CompletedTask;
    }
}
