namespace P2PStack.Addressing;

/// <summary>
/// Converts one multiaddr protocol's value between its text form and its bytes. Every built-in protocol with a value
/// has one; a module registering its own protocol (<see cref="MultiaddrProtocols.Register"/>) supplies one too.
/// Methods throw <see cref="MultiaddrException"/> with a message saying only what is wrong with the value; the
/// caller adds the protocol and the address.
/// </summary>
public abstract class MultiaddrValueCodec
{
    /// <summary>Text to bytes. The result must also pass <see cref="Validate"/>.</summary>
    public abstract byte[] Parse(string text);

    /// <summary>Bytes (already validated) to canonical text.</summary>
    public abstract string Format(ReadOnlySpan<byte> value);

    /// <summary>Checks bytes read from the wire; throws <see cref="MultiaddrException"/> when they are invalid.</summary>
    public abstract void Validate(ReadOnlySpan<byte> value);

    /// <summary>The exception codecs throw for a bad value.</summary>
    protected static MultiaddrException Error(string message) => new(message);
}
