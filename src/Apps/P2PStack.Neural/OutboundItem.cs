using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

/// <summary>A framed message waiting in a peer's send queue.</summary>
internal sealed class OutboundItem(byte[] frame, MessageType type, int priority, DateTimeOffset expiresAt, bool existingConnectionOnly = false)
{
    public byte[] Frame { get; } = frame;

    public MessageType Type { get; } = type;

    public int Priority { get; } = priority;

    public DateTimeOffset ExpiresAt { get; } = expiresAt;

    /// <summary>Sent only over a connection that already exists (forwarded messages and command responses: this node
    /// never dials or looks up on a sender's behalf).</summary>
    public bool ExistingConnectionOnly { get; } = existingConnectionOnly;

    public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
