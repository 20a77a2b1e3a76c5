namespace P2PStack.Addressing;

/// <summary>Raised when multiaddr text or bytes do not decode; the message names the protocol and the problem.</summary>
public sealed class MultiaddrException : P2PFormatException
{
    public MultiaddrException(string message) : base(message) { }
    public MultiaddrException(string message, Exception? inner) : base(message, inner) { }
}
