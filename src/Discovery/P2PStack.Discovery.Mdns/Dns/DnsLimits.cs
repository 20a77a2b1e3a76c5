namespace P2PStack.Discovery.Mdns.Dns;

/// <summary>Bounds on what <see cref="DnsMessageReader"/> accepts from the network.</summary>
public sealed record DnsLimits
{
    /// <summary>mDNS messages are at most 9000 bytes including IP and UDP headers (RFC 6762 §17).</summary>
    public int MaxMessageSize { get; init; } = 9000;

    /// <summary>Most questions plus records in all sections together.</summary>
    public int MaxRecords { get; init; } = 64;

    /// <summary>Most character-strings in one TXT record.</summary>
    public int MaxTxtStrings { get; init; } = 64;

    public static DnsLimits Default { get; } = new();

    public void Validate()
    {
        if (MaxMessageSize is < 12 or > 65535) throw new ArgumentOutOfRangeException(nameof(MaxMessageSize), "must be 12..65535");
        if (MaxRecords is < 1 or > 65535) throw new ArgumentOutOfRangeException(nameof(MaxRecords), "must be 1..65535");
        if (MaxTxtStrings < 1) throw new ArgumentOutOfRangeException(nameof(MaxTxtStrings), "must be positive");
    }
}
