namespace P2PStack.Neural;

/// <summary>A neural frame, message or agent record is malformed.</summary>
public sealed class NeuralFormatException : P2PFormatException
{
    public NeuralFormatException(string message) : base(message) { }
    public NeuralFormatException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>No record maps the agent name to a peer (locally or in the DHT).</summary>
public sealed class AgentNotFoundException(string agent, string reason, Exception? inner = null)
    : IOException($"agent '{agent}' could not be resolved: {reason}", inner)
{
    public string Agent { get; } = agent;
}

/// <summary>A command got no response within its timeout.</summary>
public sealed class CommandTimeoutException(NeuralMessageId command, TimeSpan timeout)
    : TimeoutException($"command {command} got no response within {timeout.TotalSeconds:0.###} s")
{
    public NeuralMessageId Command { get; } = command;
}
