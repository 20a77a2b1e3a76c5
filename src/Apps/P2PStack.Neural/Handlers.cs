using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

/// <summary>A verified message delivered on this node.</summary>
public class ReceivedMessage
{
    internal ReceivedMessage(VerifiedMessage verified, DateTimeOffset receivedAt, PeerId receivedFrom)
    {
        Verified = verified;
        ReceivedAt = receivedAt;
        ReceivedFrom = receivedFrom;
    }

    internal VerifiedMessage Verified { get; }

    public NeuralMessageId Id => Verified.Id;

    public MessageType Type => Verified.TypeInfo.Type;

    /// <summary>Short type name: thought, coordination, sync, proposal, vote, health, metrics, command, response.</summary>
    public string TypeName => Verified.TypeInfo.Name;

    /// <summary>The sending agent; empty when the node itself sent it.</summary>
    public string SourceAgent => Verified.Message.SourceAgent;

    /// <summary>The signer (verified).</summary>
    public PeerId SourcePeer => Verified.Source;

    /// <summary>Whether the body arrived sealed end to end to this node (docs/specs/neural-seal.md).</summary>
    public bool WasSealed => Verified.WasSealed;

    public NeuralDestination Destination => Verified.Destination;

    public int Priority => (int)Verified.Message.Priority;

    public DateTimeOffset CreatedAt => Verified.CreatedAt;

    public DateTimeOffset ExpiresAt => Verified.ExpiresAt;

    public DateTimeOffset ReceivedAt { get; }

    /// <summary>The peer this node got the message from: the signer, a forwarding peer, a gossip peer, or this node
    /// itself for local messages.</summary>
    public PeerId ReceivedFrom { get; }

    public int Hops => Verified.Hops;

    /// <summary>For a response: the command it answers.</summary>
    public NeuralMessageId? CorrelationId => Verified.Message.CorrelationId.Length == NeuralProtocol.MessageIdLength
        ? NeuralMessageId.FromBytes(Verified.Message.CorrelationId.Span)
        : null;

    public IMessage Body => Verified.Body;

    /// <summary>The body's text (see <see cref="NeuralMessageTypes.GetContent"/>).</summary>
    public string Content => NeuralMessageTypes.GetContent(Verified.Body);

    /// <summary>The same message with its body typed.</summary>
    public ReceivedMessage<TBody> As<TBody>() where TBody : class, IMessage<TBody> => new(Verified, ReceivedAt, ReceivedFrom);
}

/// <summary>A received message with a body of type <typeparamref name="TBody"/>.</summary>
public sealed class ReceivedMessage<TBody> : ReceivedMessage where TBody : class, IMessage<TBody>
{
    internal ReceivedMessage(VerifiedMessage verified, DateTimeOffset receivedAt, PeerId receivedFrom)
        : base(verified, receivedAt, receivedFrom)
    {
        Body = verified.Body as TBody
            ?? throw new InvalidCastException($"a {verified.TypeInfo.Name} message has no {typeof(TBody).Name} body");
    }

    public new TBody Body { get; }
}

/// <summary>
/// Receives every message with a <typeparamref name="TBody"/> body delivered on this node. Register in DI
/// (<c>services.AddNeuralHandler&lt;Thought, MyHandler&gt;()</c>); each message gets its own DI scope.
/// </summary>
public interface INeuralMessageHandler<TBody> where TBody : class, IMessage<TBody>
{
    ValueTask HandleAsync(ReceivedMessage<TBody> message, CancellationToken cancellationToken);
}

/// <summary>
/// Answers commands. The first registered handler whose <see cref="CanHandle"/> accepts a command produces the
/// response sent back to its source; with none, the source gets a failed response saying so. A handler has until the
/// command expires, at most <see cref="NeuralMeshOptions.CommandHandlerTimeout"/>; the response goes back only over a
/// connection that already exists (to the signer, else to the peer the command came from).
/// </summary>
public interface INeuralCommandHandler
{
    bool CanHandle(Command command);

    ValueTask<Response> HandleAsync(ReceivedMessage<Command> command, CancellationToken cancellationToken);
}
