namespace P2PStack.Security.Noise.Protocol;

/// <summary>
/// A Noise message could not be processed: wrong length, failed authentication tag, invalid public key, or a call
/// out of the pattern's order. The message says which.
/// </summary>
public sealed class NoiseException : P2PFormatException
{
    public NoiseException(string message) : base(message) { }

    public NoiseException(string message, Exception? inner) : base(message, inner) { }
}
