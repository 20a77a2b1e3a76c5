using System.Threading.Channels;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural.Sample;

/// <summary>What the planner's handlers received, for the demo to wait on.</summary>
public sealed class Inbox
{
    public Channel<ReceivedMessage<Thought>> Thoughts { get; } = Channel.CreateUnbounded<ReceivedMessage<Thought>>();

    public Channel<ReceivedMessage<HealthCheck>> Health { get; } = Channel.CreateUnbounded<ReceivedMessage<HealthCheck>>();
}

/// <summary>The worker accepts an assigned task and tells the assigner what it thinks of it.</summary>
public sealed class WorkerTaskHandler(NeuralMesh mesh) : INeuralMessageHandler<AgentCoordination>
{
    public async ValueTask HandleAsync(ReceivedMessage<AgentCoordination> message, CancellationToken cancellationToken)
    {
        if (message.Destination.Name != "worker" || message.Body.Action != "assign") return;
        Console.WriteLine($"worker got task {message.Body.TaskId} from {message.SourceAgent}: \"{message.Body.Content}\" (priority {message.Priority})");
        await mesh.SendAsync(NeuralDestination.Agent(message.SourceAgent),
            new Thought { Content = $"accepted {message.Body.TaskId}; starting with the error lines", Confidence = 0.8 },
            new SendOptions { FromAgent = "worker", Priority = 6 }, cancellationToken);
    }
}

public sealed class InboxThoughtHandler(Inbox inbox) : INeuralMessageHandler<Thought>
{
    public ValueTask HandleAsync(ReceivedMessage<Thought> message, CancellationToken cancellationToken) =>
        inbox.Thoughts.Writer.WriteAsync(message, cancellationToken);
}

public sealed class InboxHealthHandler(Inbox inbox) : INeuralMessageHandler<HealthCheck>
{
    public ValueTask HandleAsync(ReceivedMessage<HealthCheck> message, CancellationToken cancellationToken) =>
        inbox.Health.Writer.WriteAsync(message, cancellationToken);
}

/// <summary>The worker's one command: count the words of its arguments.</summary>
public sealed class WordCountHandler : INeuralCommandHandler
{
    public bool CanHandle(Command command) => command.Name == "count-words";

    public ValueTask<Response> HandleAsync(ReceivedMessage<Command> command, CancellationToken cancellationToken)
    {
        int words = command.Body.Args.Sum(a => a.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        return ValueTask.FromResult(new Response { Success = true, Content = $"{words} words" });
    }
}
