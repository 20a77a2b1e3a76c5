namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>Options of shadow addresses.</summary>
public sealed class ShadowOptions
{
    /// <summary>Length of a descriptor period (blinded keys change with each). All nodes of a network must agree.</summary>
    public TimeSpan PeriodLength { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long past the end of its period a descriptor stays valid (at most one period).</summary>
    public TimeSpan DescriptorOverlap { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Near a period boundary (this close to it by the local clock), a resolution that finds no valid descriptor for
    /// the current period tries the adjacent one (the previous just after a boundary, the next just before one), so a
    /// client whose clock differs from the service's by up to this much still resolves. At most half a period; zero
    /// turns it off.
    /// </summary>
    public TimeSpan AdjacentPeriodWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Time limit of one publication or resolution in the DHT.</summary>
    public TimeSpan DhtTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (PeriodLength < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(PeriodLength));
        if (DescriptorOverlap < TimeSpan.Zero || DescriptorOverlap > PeriodLength) throw new ArgumentOutOfRangeException(nameof(DescriptorOverlap));
        if (DhtTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DhtTimeout));
        if (AdjacentPeriodWindow < TimeSpan.Zero || AdjacentPeriodWindow > PeriodLength / 2)
            throw new ArgumentOutOfRangeException(nameof(AdjacentPeriodWindow), "between zero and half a period");
    }
}
