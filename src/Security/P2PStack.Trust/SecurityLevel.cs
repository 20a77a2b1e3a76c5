namespace P2PStack.Trust;

/// <summary>
/// How much a node demands of the peers it connects to and discovers. Each level includes the one before.
/// </summary>
public enum SecurityLevel
{
    /// <summary>Open discovery, any authenticated peer.</summary>
    Development = 0,

    /// <summary>Only discoveries that carry a valid signed peer record are used; revoked peers are refused.</summary>
    Signed = 1,

    /// <summary>As signed, plus post-quantum required with peers known to support it (no downgrade), and trust on first
    /// use when <see cref="TrustOptions.AutoTrustFirst"/> is on.</summary>
    Secure = 2,

    /// <summary>Only trusted peers may connect or be dialed (checked against the authenticated peer id), and only
    /// trusted peers are discovered.</summary>
    Strict = 3,
}

public static class SecurityLevels
{
    /// <summary>The lower-case names used in configuration and on the command line.</summary>
    public static IReadOnlyList<string> Names { get; } = ["development", "signed", "secure", "strict"];

    public static string ToName(this SecurityLevel level) => Names[(int)level];

    /// <exception cref="FormatException">Not one of <see cref="Names"/>.</exception>
    public static SecurityLevel Parse(string text)
    {
        int index = Names.ToList().IndexOf(text.Trim().ToLowerInvariant());
        if (index < 0) throw new FormatException($"unknown security level '{text}' (expected {string.Join(", ", Names)})");
        return (SecurityLevel)index;
    }
}
