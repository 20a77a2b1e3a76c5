using P2PStack.Nat.Relay.Pb;

namespace P2PStack.Nat.Relay;

/// <summary>
/// The limits a relay applies to one relayed connection: a duration and a byte count per direction, each optional
/// (none = unlimited).
/// </summary>
public sealed record RelayLimit(TimeSpan? Duration, long? Data)
{
    public static RelayLimit None { get; } = new(null, null);

    public bool IsUnlimited => Duration is null && Data is null;

    /// <summary>The wire form the spec defines (duration in seconds), or null for no Limit field.</summary>
    public Limit? ToWire()
    {
        if (IsUnlimited) return null;
        var limit = new Limit();
        if (Duration is { } d) limit.Duration = (uint)Math.Clamp(Math.Ceiling(d.TotalSeconds), 1, uint.MaxValue);
        if (Data is { } b) limit.Data = (ulong)b;
        return limit;
    }

    /// <summary>
    /// Reads a Limit as sent by a relay. The spec says seconds; js-libp2p's relay (circuit-relay-v2 4.x) sends
    /// milliseconds. A duration above <paramref name="millisecondsThreshold"/> seconds is therefore read as
    /// milliseconds: js's default 120000 (2 min) would otherwise read as 33 hours, while no relay grants a relayed
    /// connection for more than a day. Zero means no limit.
    /// </summary>
    public static RelayLimit FromWire(Limit? limit, uint millisecondsThreshold)
    {
        if (limit is null) return None;
        TimeSpan? duration = null;
        if (limit.HasDuration && limit.Duration != 0)
            duration = limit.Duration > millisecondsThreshold ? TimeSpan.FromMilliseconds(limit.Duration) : TimeSpan.FromSeconds(limit.Duration);
        long? data = limit.HasData && limit.Data != 0 ? (long)Math.Min(limit.Data, long.MaxValue) : null;
        return new RelayLimit(duration, data);
    }

    /// <summary>The host's form, carried by the relayed connection (null for unlimited).</summary>
    public Network.ConnectionLimits? ToConnectionLimits() => IsUnlimited ? null : new Network.ConnectionLimits(Duration, Data);

    public override string ToString() =>
        IsUnlimited ? "unlimited" : $"{(Duration is { } d ? $"{d.TotalSeconds:0.#} s" : "no time limit")}, {(Data is { } b ? $"{b} bytes" : "no data limit")} each way";
}
