namespace P2PStack;

/// <summary>
/// Base of every error raised when bytes or text from outside (the network, a file, a user) do not decode.
/// Subclasses name the format; the message says what was wrong. Decoders never let IndexOutOfRange,
/// NullReference or overflow escape for bad input: they throw one of these.
/// </summary>
public class P2PFormatException : FormatException
{
    public P2PFormatException(string message) : base(message) { }
    public P2PFormatException(string message, Exception? inner) : base(message, inner) { }
}
