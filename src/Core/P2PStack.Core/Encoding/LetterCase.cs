namespace P2PStack.Encoding;

/// <summary>Which letter case a decoder of a case-carrying base (16, 32, 36) accepts.</summary>
public enum LetterCase
{
    /// <summary>Only lowercase letters.</summary>
    Lower,
    /// <summary>Only uppercase letters.</summary>
    Upper,
    /// <summary>Either case, even mixed (what multibase requires of its decoders).</summary>
    Insensitive,
}
