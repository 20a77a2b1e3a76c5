using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural.Tests;

/// <summary>Hand-built messages, so tests can make them wrong in exactly one way.</summary>
internal static class TestMessages
{
    public static NeuralMessage Build(PeerId source, IMessage body, NeuralDestination? to = null, DateTimeOffset? createdAt = null,
        uint ttlSeconds = 60, uint hopLimit = 4, uint priority = 5, byte[]? id = null)
    {
        var message = new NeuralMessage
        {
            Id = ByteString.CopyFrom(id ?? NeuralMessageId.New().ToBytes()),
            SourcePeer = ByteString.CopyFrom(source.Bytes.Span),
            Destination = (to ?? NeuralDestination.Agent("agent-001")).ToProto(),
            Priority = priority,
            TtlSeconds = ttlSeconds,
            HopLimit = hopLimit,
            CreatedAtMs = (ulong)(createdAt ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds(),
        };
        NeuralMessageTypes.SetBody(message, body);
        if (message.Type == MessageType.Response) message.CorrelationId = ByteString.CopyFrom(NeuralMessageId.New().ToBytes());
        return message;
    }

    public static IMessage SampleBody(MessageType type) => type switch
    {
        MessageType.Thought => new Thought { Content = "the sky is blue", Confidence = 0.9, Tags = { "sky" } },
        MessageType.AgentCoordination => new AgentCoordination { TaskId = "t-1", Action = "assign", Content = "take task 1", Agents = { "agent-002" } },
        MessageType.SwarmSync => new SwarmSync { Version = 7, State = ByteString.CopyFromUtf8("state"), Content = "sync 7" },
        MessageType.ConsensusProposal => new ConsensusProposal { ProposalId = "p-1", Round = 1, Content = "adopt plan A" },
        MessageType.ConsensusVote => new ConsensusVote { ProposalId = "p-1", Round = 1, Accept = true, Content = "plan A is fine" },
        MessageType.HealthCheck => new HealthCheck { Status = HealthCheck.Types.Status.Healthy, UptimeSeconds = 12, Content = "ok" },
        MessageType.MetricsUpdate => new MetricsUpdate { Metrics = { new MetricsUpdate.Types.Metric { Name = "cpu", Value = 0.5 } }, Content = "cpu 50%" },
        MessageType.Command => new Command { Name = "echo", Args = { "hello", "mesh" }, Content = "echo hello mesh" },
        _ => new Response { Success = true, Content = "done" },
    };
}
