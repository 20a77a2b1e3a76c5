namespace P2PStack.Privacy.Padding;

/// <summary>A padded frame (hello or cell) from the remote broke the wire format of docs/specs/padding.md.</summary>
public sealed class PaddingFormatException : P2PFormatException
{
    public PaddingFormatException(string message) : base(message) { }
}

/// <summary>The two ends of a connection could not agree on padding: no common cell size, or no hello in time.</summary>
public sealed class PaddingNegotiationException : IOException
{
    public PaddingNegotiationException(string message) : base(message) { }

    public PaddingNegotiationException(string message, Exception? inner) : base(message, inner) { }
}
