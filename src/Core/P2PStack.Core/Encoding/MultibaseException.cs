namespace P2PStack.Encoding;

/// <summary>Raised when base-encoded text (multibase or one of the bare bases) does not decode.</summary>
public sealed class MultibaseException(string message) : P2PFormatException(message);
