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

    /// <summary>
    /// How descriptors are published and resolved (section 5.1 of docs/specs/shadow.md): <see cref="ShadowDirectoryAccess.Auto"/>
    /// over onion circuits when the node runs the onion client, else under its own identity.
    /// </summary>
    public ShadowDirectoryAccess DirectoryAccess { get; set; } = ShadowDirectoryAccess.Auto;

    /// <summary>Time limit of one publication or resolution in the DHT.</summary>
    public TimeSpan DhtTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Over circuits (<see cref="DirectoryAccess"/>): how long a publication or resolution waits, before its
    /// <see cref="DhtTimeout"/> starts, for the onion directory to list enough relays for a circuit (a node that just
    /// started learns them from the DHT); past it the operation fails with the reason. Zero: fail at once.
    /// </summary>
    public TimeSpan DirectoryWaitTimeout { get; set; } = TimeSpan.FromSeconds(30);

    internal void Validate()
    {
        if (DirectoryWaitTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DirectoryWaitTimeout));
        if (PeriodLength < TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(PeriodLength));
        if (DescriptorOverlap < TimeSpan.Zero || DescriptorOverlap > PeriodLength) throw new ArgumentOutOfRangeException(nameof(DescriptorOverlap));
        if (DhtTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DhtTimeout));
        if (AdjacentPeriodWindow < TimeSpan.Zero || AdjacentPeriodWindow > PeriodLength / 2)
            throw new ArgumentOutOfRangeException(nameof(AdjacentPeriodWindow), "between zero and half a period");
    }
}

/// <summary>How a node's shadow directory reaches the DHT.</summary>
public enum ShadowDirectoryAccess
{
    /// <summary>Over circuits when the node runs the onion client (<c>AddOnion</c> with its client on), else direct.</summary>
    Auto,

    /// <summary>Over onion circuits under ephemeral identities; needs the onion client.</summary>
    Circuits,

    /// <summary>Under the node's own identity over its own connections: storing DHT nodes learn who publishes and resolves.</summary>
    Direct,
}
