namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>A shadow address, key or descriptor from outside is malformed, forged, expired or for another period.</summary>
public sealed class ShadowFormatException : P2PFormatException
{
    public ShadowFormatException(string message) : base(message) { }

    public ShadowFormatException(string message, Exception? inner) : base(message, inner) { }
}
