using Google.Protobuf;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.Neural.Messages;

namespace P2PStack.Consensus.Dag;

/// <summary>
/// How DAG messages ride in neural bodies (docs/specs/dag.md, "Transport"): a <see cref="Votes"/> message in a
/// <see cref="ConsensusVote"/>, every other kind in a <see cref="ConsensusProposal"/>; <c>proposal_id</c> names the DAG
/// (<c>dag:NAME</c>), <c>round</c> repeats the request id, <c>value</c> holds the encoded <see cref="DagMessage"/>.
/// </summary>
public static class DagWire
{
    /// <summary>The neural body carrying <paramref name="message"/> for the DAG tagged <paramref name="protocolTag"/>.</summary>
    public static IMessage ToBody(DagMessage message, string protocolTag)
    {
        ArgumentNullException.ThrowIfNull(message);
        var value = message.ToByteString();
        return message.KindCase == DagMessage.KindOneofCase.Votes
            ? new ConsensusVote { ProposalId = protocolTag, Round = message.RequestId, Accept = true, Value = value }
            : new ConsensusProposal { ProposalId = protocolTag, Round = message.RequestId, Value = value };
    }

    /// <summary>The DAG message in a proposal body.</summary>
    /// <exception cref="DagFormatException">Not a valid DAG message, a vote in a proposal, or a round that differs from the request id.</exception>
    public static DagMessage FromProposal(ConsensusProposal proposal)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        var message = Parse(proposal.Value, proposal.Round);
        if (message.KindCase == DagMessage.KindOneofCase.Votes) throw new DagFormatException(DagRefusal.Malformed, "votes must travel in a consensus vote");
        return message;
    }

    /// <summary>The DAG message in a vote body.</summary>
    /// <exception cref="DagFormatException">Not a valid Votes message, or a round that differs from the request id.</exception>
    public static DagMessage FromVote(ConsensusVote vote)
    {
        ArgumentNullException.ThrowIfNull(vote);
        var message = Parse(vote.Value, vote.Round);
        if (message.KindCase != DagMessage.KindOneofCase.Votes) throw new DagFormatException(DagRefusal.Malformed, "a consensus vote must carry votes");
        return message;
    }

    private static DagMessage Parse(ByteString value, ulong round)
    {
        DagMessage message;
        try
        {
            message = DagMessage.Parser.ParseFrom(value);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new DagFormatException(DagRefusal.Malformed, $"DAG message is not a valid protobuf: {e.Message}", e);
        }
        if (message.KindCase == DagMessage.KindOneofCase.None) throw new DagFormatException(DagRefusal.Malformed, "DAG message of no known kind");
        if (message.RequestId != round) throw new DagFormatException(DagRefusal.Malformed, $"round {round} differs from request id {message.RequestId}");
        return message;
    }
}
