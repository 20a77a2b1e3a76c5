using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

/// <summary>A framed message waiting in a peer's send queue.</summary>
internal sealed class OutboundItem(byte[] frame, MessageType type, int priority, DateTimeOffset expiresAt)
{
    public byte[] Frame { get; } = frame;

    public MessageType Type { get; } = type;

    public int Priority { get; } = priority;

    public DateTimeOffset ExpiresAt { get; } = expiresAt;

    public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
