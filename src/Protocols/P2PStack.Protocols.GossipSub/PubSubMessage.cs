using System.Buffers.Binary;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

/// <summary>A validated message as handed to subscribers.</summary>
public sealed class PubSubMessage
{
    internal PubSubMessage(MessageId id, Message raw, PeerId receivedFrom, PeerId? author)
    {
        Id = id;
        Raw = raw;
        ReceivedFrom = receivedFrom;
        Author = author;
    }

    public MessageId Id { get; }

    public string Topic => Raw.Topic;

    public ReadOnlyMemory<byte> Data => Raw.Data.Memory;

    /// <summary>The signing author (from), or null under StrictNoSign.</summary>
    public PeerId? Author { get; }

    /// <summary>The author's sequence number, or null when absent or not 8 bytes.</summary>
    public ulong? SequenceNumber => Raw.HasSeqno && Raw.Seqno.Length == 8 ? BinaryPrimitives.ReadUInt64BigEndian(Raw.Seqno.Span) : null;

    /// <summary>The peer that forwarded it to us (ourselves for our own messages).</summary>
    public PeerId ReceivedFrom { get; }

    /// <summary>The message as it was on the wire. Do not modify it.</summary>
    public Message Raw { get; }
}

/// <summary>Outcome of application validation (gossipsub v1.1 extended validators).</summary>
public enum ValidationResult
{
    /// <summary>Deliver and forward.</summary>
    Accept,
    /// <summary>Invalid: drop, and penalise (P4) the sender and every peer that forwarded it.</summary>
    Reject,
    /// <summary>Neither deliver nor forward, without penalty.</summary>
    Ignore,
}

/// <summary>A received message waiting for application validation.</summary>
public sealed class PendingMessage
{
    internal PendingMessage(MessageId id, Message message, PeerId receivedFrom, PeerId? author)
    {
        Id = id;
        Message = message;
        ReceivedFrom = receivedFrom;
        Author = author;
    }

    public MessageId Id { get; }

    public Message Message { get; }

    public string Topic => Message.Topic;

    public PeerId ReceivedFrom { get; }

    public PeerId? Author { get; }
}
