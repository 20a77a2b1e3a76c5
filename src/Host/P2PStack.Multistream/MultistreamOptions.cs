namespace P2PStack.Multistream;

/// <summary>Limits and timeouts for multistream-select negotiation.</summary>
public sealed class MultistreamOptions
{
    /// <summary>Shared default instance; treat as read-only.</summary>
    public static MultistreamOptions Default { get; } = new();

    /// <summary>Largest message (protocol id plus newline) accepted, in bytes. go-multistream and js use 1024.</summary>
    public int MaxMessageLength { get; init; } = 1024;

    /// <summary>Largest <c>ls</c> response accepted by <see cref="MultistreamSelect.ListAsync"/>, in bytes.</summary>
    public int MaxListResponseLength { get; init; } = 64 * 1024;

    /// <summary>How many protocols (or <c>ls</c> requests) a listener answers before giving up on a dialer.</summary>
    public int MaxProposals { get; init; } = 32;

    /// <summary>Whole-negotiation deadline; <see cref="Timeout.InfiniteTimeSpan"/> leaves it to the caller's token.</summary>
    public TimeSpan NegotiationTimeout { get; init; } = TimeSpan.FromSeconds(10);

    internal void Validate()
    {
        // The header itself is 19 bytes; anything smaller could not even negotiate.
        if (MaxMessageLength < 20) throw new ArgumentOutOfRangeException(nameof(MaxMessageLength), "must be at least 20 bytes");
        if (MaxListResponseLength < MaxMessageLength) throw new ArgumentOutOfRangeException(nameof(MaxListResponseLength), "must be at least MaxMessageLength");
        if (MaxProposals < 1) throw new ArgumentOutOfRangeException(nameof(MaxProposals), "must be at least 1");
        if (NegotiationTimeout <= TimeSpan.Zero && NegotiationTimeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(NegotiationTimeout), "must be positive or infinite");
    }
}
