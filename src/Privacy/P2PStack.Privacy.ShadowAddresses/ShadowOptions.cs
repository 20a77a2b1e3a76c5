namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>Options of shadow addresses.</summary>
public sealed class ShadowOptions
{
    /// <summary>Length of a descriptor period (blinded keys change with each). All nodes of a network must agree.</summary>
    public TimeSpan PeriodLength { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long past the end of its period a descriptor stays valid (at most one period).</summary>
    public TimeSpan DescriptorOverlap { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Time limit of one publication or resolution in the DHT.</summary>
    public TimeSpan DhtTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (PeriodLength < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(PeriodLength));
        if (DescriptorOverlap < TimeSpan.Zero || DescriptorOverlap > PeriodLength) throw new ArgumentOutOfRangeException(nameof(DescriptorOverlap));
        if (DhtTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DhtTimeout));
    }
}
