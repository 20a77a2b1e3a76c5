namespace P2PStack.Neural;

/// <summary>Why a message was not delivered; each is counted per message type.</summary>
public enum DropReason
{
    /// <summary>The frame or message does not decode, or breaks a structural rule.</summary>
    Malformed,
    /// <summary>Over the envelope or body size limit.</summary>
    Oversized,
    /// <summary>The envelope is invalid or its signature does not verify.</summary>
    BadSignature,
    /// <summary>The signer is not the claimed source peer (or not the gossip author).</summary>
    SenderMismatch,
    /// <summary>Past its TTL (checked on receipt, before forwarding and before sending).</summary>
    Expired,
    /// <summary>Created further in the future than the allowed clock skew.</summary>
    ClockSkew,
    /// <summary>The same (source, id) was already accepted within the replay window.</summary>
    Replay,
    /// <summary>The source holds its share of the replay cache (<c>ReplayCacheCapacityPerSource</c>) in unexpired
    /// entries.</summary>
    ReplayCacheFull,
    /// <summary>More hops than the message's hop limit.</summary>
    HopLimit,
    /// <summary>Not for this node, and no connected peer to forward it to.</summary>
    Unroutable,
    /// <summary>A bounded queue was full.</summary>
    QueueFull,
    /// <summary>The stream to the next hop could not be opened or written.</summary>
    SendFailed,

    /// <summary>A sealed body for this node does not open: modified, moved from another message, or sealed to
    /// another key.</summary>
    BadSeal,

    /// <summary>The resource manager refused the memory to queue the message (<c>service neural</c> or the system
    /// scope is full).</summary>
    ResourceLimit,

    /// <summary>Created at or before the replay cache's watermark: an entry of a message that old may have been given up
    /// to make room, so whether this one is a replay cannot be told (docs/specs/neural.md, step 9).</summary>
    TooOld,

    /// <summary>The address block the message came from took replay-cache entries faster than its rate allows.</summary>
    RateLimited,
}

public static class DropReasons
{
    /// <summary>The Prometheus label value: snake_case.</summary>
    public static string Label(this DropReason reason) => reason switch
    {
        DropReason.Malformed => "malformed",
        DropReason.Oversized => "oversized",
        DropReason.BadSignature => "bad_signature",
        DropReason.SenderMismatch => "sender_mismatch",
        DropReason.Expired => "expired",
        DropReason.ClockSkew => "clock_skew",
        DropReason.Replay => "replay",
        DropReason.ReplayCacheFull => "replay_cache_full",
        DropReason.HopLimit => "hop_limit",
        DropReason.Unroutable => "unroutable",
        DropReason.QueueFull => "queue_full",
        DropReason.SendFailed => "send_failed",
        DropReason.BadSeal => "bad_seal",
        DropReason.ResourceLimit => "resource_limit",
        DropReason.TooOld => "too_old",
        DropReason.RateLimited => "rate_limited",
        _ => "unknown",
    };
}
