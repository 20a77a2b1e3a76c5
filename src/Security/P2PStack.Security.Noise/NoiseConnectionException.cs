namespace P2PStack.Security.Noise;

/// <summary>
/// The secured connection broke after the handshake: a transport frame failed authentication, was malformed or
/// truncated, or the nonce space ran out. The underlying connection is aborted.
/// </summary>
public sealed class NoiseConnectionException : IOException
{
    public NoiseConnectionException(string message) : base(message) { }

    public NoiseConnectionException(string message, Exception? inner) : base(message, inner) { }
}
