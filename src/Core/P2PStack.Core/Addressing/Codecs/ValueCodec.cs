namespace P2PStack.Addressing.Codecs;

/// <summary>
/// Converts one protocol's value between its text form and its bytes. Methods throw
/// <see cref="MultiaddrException"/> with a message saying only what is wrong with the value;
/// the caller adds the protocol and the address.
/// </summary>
internal abstract class ValueCodec
{
    /// <summary>Text to bytes. The result must also pass <see cref="Validate"/>.</summary>
    public abstract byte[] Parse(string text);

    /// <summary>Bytes (already validated) to canonical text.</summary>
    public abstract string Format(ReadOnlySpan<byte> value);

    /// <summary>Checks bytes read from the wire.</summary>
    public abstract void Validate(ReadOnlySpan<byte> value);

    protected static MultiaddrException Error(string message) => new(message);
}
