using System.Collections.Frozen;
using Google.Protobuf;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

/// <summary>
/// One row per message type: its body class, its short name (used by the CLI, the listen output and metric labels)
/// and the gossip family its swarm messages travel in.
/// </summary>
public sealed record NeuralMessageTypeInfo(MessageType Type, string Name, Type BodyType, NeuralMessage.BodyOneofCase BodyCase, string? SwarmFamily);

/// <summary>The message type table and helpers over typed bodies.</summary>
public static class NeuralMessageTypes
{
    public static IReadOnlyList<NeuralMessageTypeInfo> All { get; } =
    [
        new(MessageType.Thought, "thought", typeof(Thought), NeuralMessage.BodyOneofCase.Thought, "thought"),
        new(MessageType.AgentCoordination, "coordination", typeof(AgentCoordination), NeuralMessage.BodyOneofCase.AgentCoordination, "coordination"),
        new(MessageType.SwarmSync, "sync", typeof(SwarmSync), NeuralMessage.BodyOneofCase.SwarmSync, "sync"),
        new(MessageType.ConsensusProposal, "proposal", typeof(ConsensusProposal), NeuralMessage.BodyOneofCase.ConsensusProposal, "consensus"),
        new(MessageType.ConsensusVote, "vote", typeof(ConsensusVote), NeuralMessage.BodyOneofCase.ConsensusVote, "consensus"),
        new(MessageType.HealthCheck, "health", typeof(HealthCheck), NeuralMessage.BodyOneofCase.HealthCheck, "telemetry"),
        new(MessageType.MetricsUpdate, "metrics", typeof(MetricsUpdate), NeuralMessage.BodyOneofCase.MetricsUpdate, "telemetry"),
        // Request/response pairs need a single answering peer: never over a swarm.
        new(MessageType.Command, "command", typeof(Command), NeuralMessage.BodyOneofCase.Command, null),
        new(MessageType.Response, "response", typeof(Response), NeuralMessage.BodyOneofCase.Response, null),
    ];

    private static readonly FrozenDictionary<MessageType, NeuralMessageTypeInfo> s_byType = All.ToFrozenDictionary(i => i.Type);
    private static readonly FrozenDictionary<Type, NeuralMessageTypeInfo> s_byBody = All.ToFrozenDictionary(i => i.BodyType);
    private static readonly FrozenDictionary<string, NeuralMessageTypeInfo> s_byName = All.ToFrozenDictionary(i => i.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Gossip families a swarm member subscribes to.</summary>
    public static IReadOnlyList<string> SwarmFamilies { get; } = [.. All.Select(i => i.SwarmFamily).OfType<string>().Distinct()];

    public static NeuralMessageTypeInfo Of(MessageType type) =>
        s_byType.TryGetValue(type, out var info) ? info : throw new ArgumentOutOfRangeException(nameof(type), type, "not a message type");

    public static NeuralMessageTypeInfo Of(Type bodyType) =>
        s_byBody.TryGetValue(bodyType, out var info) ? info : throw new ArgumentException($"{bodyType.Name} is not a neural message body", nameof(bodyType));

    public static bool TryParse(string name, out NeuralMessageTypeInfo info) => s_byName.TryGetValue(name, out info!);

    /// <summary>Short name of a type, or "unknown".</summary>
    public static string NameOf(MessageType type) => s_byType.TryGetValue(type, out var info) ? info.Name : "unknown";

    /// <summary>The body of <paramref name="message"/>, or null when none is set.</summary>
    public static IMessage? GetBody(NeuralMessage message) => message.BodyCase switch
    {
        NeuralMessage.BodyOneofCase.Thought => message.Thought,
        NeuralMessage.BodyOneofCase.AgentCoordination => message.AgentCoordination,
        NeuralMessage.BodyOneofCase.SwarmSync => message.SwarmSync,
        NeuralMessage.BodyOneofCase.ConsensusProposal => message.ConsensusProposal,
        NeuralMessage.BodyOneofCase.ConsensusVote => message.ConsensusVote,
        NeuralMessage.BodyOneofCase.HealthCheck => message.HealthCheck,
        NeuralMessage.BodyOneofCase.MetricsUpdate => message.MetricsUpdate,
        NeuralMessage.BodyOneofCase.Command => message.Command,
        NeuralMessage.BodyOneofCase.Response => message.Response,
        _ => null,
    };

    /// <summary>Sets the body (and the matching type) on <paramref name="message"/>.</summary>
    public static void SetBody(NeuralMessage message, IMessage body)
    {
        switch (body)
        {
            case Thought b: message.Thought = b; break;
            case AgentCoordination b: message.AgentCoordination = b; break;
            case SwarmSync b: message.SwarmSync = b; break;
            case ConsensusProposal b: message.ConsensusProposal = b; break;
            case ConsensusVote b: message.ConsensusVote = b; break;
            case HealthCheck b: message.HealthCheck = b; break;
            case MetricsUpdate b: message.MetricsUpdate = b; break;
            case Command b: message.Command = b; break;
            case Response b: message.Response = b; break;
            default: throw new ArgumentException($"{body.GetType().Name} is not a neural message body", nameof(body));
        }
        message.Type = Of(body.GetType()).Type;
    }

    /// <summary>The human-readable text of a body (its content field; a response's error when it failed).</summary>
    public static string GetContent(IMessage body) => body switch
    {
        Thought b => b.Content,
        AgentCoordination b => b.Content,
        SwarmSync b => b.Content,
        ConsensusProposal b => b.Content,
        ConsensusVote b => b.Content,
        HealthCheck b => b.Content,
        MetricsUpdate b => b.Content,
        Command b => b.Content.Length > 0 ? b.Content : string.Join(' ', [b.Name, .. b.Args]).Trim(),
        Response b => b.Success || b.Error.Length == 0 ? b.Content : b.Error,
        _ => "",
    };

    /// <summary>A body of <paramref name="type"/> whose content field is <paramref name="content"/> (what the CLI sends).</summary>
    public static IMessage CreateWithContent(MessageType type, string content) => type switch
    {
        MessageType.Thought => new Thought { Content = content },
        MessageType.AgentCoordination => new AgentCoordination { Content = content },
        MessageType.SwarmSync => new SwarmSync { Content = content },
        MessageType.ConsensusProposal => new ConsensusProposal { Content = content },
        MessageType.ConsensusVote => new ConsensusVote { Content = content },
        MessageType.HealthCheck => new HealthCheck { Status = HealthCheck.Types.Status.Healthy, Content = content },
        MessageType.MetricsUpdate => new MetricsUpdate { Content = content },
        // A command's first word is its name, the rest its arguments; the whole text stays in content.
        MessageType.Command => CommandFromText(content),
        MessageType.Response => new Response { Success = true, Content = content },
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not a message type"),
    };

    private static Command CommandFromText(string content)
    {
        var words = content.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var command = new Command { Name = words.Length > 0 ? words[0] : "", Content = content };
        command.Args.AddRange(words.Skip(1));
        return command;
    }
}
