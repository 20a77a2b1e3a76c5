namespace P2PStack.Privacy.Onion;

/// <summary>Bytes from a peer that do not form a valid onion cell, message, handshake or descriptor.</summary>
public class OnionFormatException : P2PFormatException
{
    public OnionFormatException(string message) : base(message) { }

    public OnionFormatException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A circuit ended: destroyed by a hop or by this side, or it could not be built. <see cref="Reason"/> says
/// why, as the DESTROY cell did.</summary>
public class CircuitException : IOException
{
    public CircuitException(DestroyReason reason, string message, Exception? inner = null) : base(message, inner)
    {
        Reason = reason;
    }

    public DestroyReason Reason { get; }
}

/// <summary>A relay's key agreement failed: a bad CREATED (wrong confirmation), an unknown onion key.</summary>
public sealed class OnionHandshakeException(string message) : OnionFormatException(message);

/// <summary>A stream over a circuit ended abnormally: the exit refused it or it was reset (<see cref="Reason"/>).</summary>
public sealed class OnionStreamException(EndReason reason, string message, Exception? inner = null) : IOException(message, inner)
{
    public EndReason Reason { get; } = reason;
}
