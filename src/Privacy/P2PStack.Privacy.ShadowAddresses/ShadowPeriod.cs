namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>
/// A time period of descriptor publication: number <c>floor(unix seconds / length)</c> of periods of
/// <c>length</c> seconds. The blinded key, the DHT key and the descriptor key change with each period.
/// </summary>
public readonly record struct ShadowPeriod(ulong Number, ulong LengthSeconds)
{
    /// <summary>The period containing <paramref name="time"/>.</summary>
    public static ShadowPeriod At(DateTimeOffset time, TimeSpan length)
    {
        ulong seconds = (ulong)length.TotalSeconds;
        if (seconds == 0) throw new ArgumentOutOfRangeException(nameof(length), "a period lasts at least one second");
        long unix = time.ToUnixTimeSeconds();
        if (unix < 0) throw new ArgumentOutOfRangeException(nameof(time), "time before 1970");
        return new ShadowPeriod((ulong)unix / seconds, seconds);
    }

    public DateTimeOffset Start => DateTimeOffset.FromUnixTimeSeconds((long)(Number * LengthSeconds));

    public DateTimeOffset End => DateTimeOffset.FromUnixTimeSeconds((long)((Number + 1) * LengthSeconds));

    public ShadowPeriod Next => this with { Number = Number + 1 };

    public ShadowPeriod Previous => this with { Number = Number - 1 };
}
