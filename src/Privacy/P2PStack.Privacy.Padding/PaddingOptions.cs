namespace P2PStack.Privacy.Padding;

/// <summary>How cover cells are spaced on an idle connection.</summary>
public enum CoverTraffic
{
    /// <summary>No cover cells.</summary>
    None,

    /// <summary>One cover cell every 1/<see cref="PaddingOptions.CoverRate"/> seconds.</summary>
    Constant,

    /// <summary>Exponentially distributed gaps of mean 1/<see cref="PaddingOptions.CoverRate"/> (a Poisson process, as in Loopix).</summary>
    Poisson,
}

/// <summary>What a connection is for; the padding policy says whether it is padded.</summary>
public enum PaddingScope
{
    /// <summary>A link between onion circuit hops (client to relay, relay to relay).</summary>
    CircuitLink,

    /// <summary>The end-to-end connection to or from a shadow address.</summary>
    ShadowConnection,

    /// <summary>Any other connection.</summary>
    Other,
}

/// <summary>Options of the traffic padding filter (<c>/synaptic/padding/1.0.0</c>, docs/specs/padding.md).</summary>
public sealed class PaddingOptions
{
    /// <summary>
    /// Cell sizes this node offers, ascending, header included (64..16384, at most 8). Each burst of writes leaves as
    /// whole cells of one size: the smallest that holds it, else several of the largest. Writes that fall in the same
    /// size are indistinguishable on the wire; a single size hides every size up to it.
    /// </summary>
    public List<int> CellSizes { get; } = [1024, 16384];

    /// <summary>Cover cells on an idle connection (sent only in intervals without data).</summary>
    public CoverTraffic Cover { get; set; } = CoverTraffic.None;

    /// <summary>Mean cover cells per second (at most 1000).</summary>
    public double CoverRate { get; set; } = 2;

    /// <summary>Per-connection cap on cover traffic in bytes per second; the cover rate is lowered to stay within it.</summary>
    public int CoverBudgetBytesPerSecond { get; set; } = 32 * 1024;

    /// <summary>The default of <see cref="CoverMaxLag"/>.</summary>
    public static readonly TimeSpan DefaultCoverMaxLag = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How overdue a cover event may be and still be sent: a timer that fires late (timer granularity, a busy machine)
    /// does not lower the rate, while a longer stall is skipped rather than made up in a burst: at most
    /// <c>CoverMaxLag × rate</c> (rounded up) plus one cover cells go out back to back, about the budget times this lag
    /// in bytes.
    /// </summary>
    public TimeSpan CoverMaxLag { get; set; } = DefaultCoverMaxLag;

    /// <summary>Upper bound of the uniformly random delay before a burst is sent; zero sends at once.</summary>
    public TimeSpan MaxJitter { get; set; } = TimeSpan.Zero;

    /// <summary>How long a burst waits for more data to travel with it (batching); zero sends at once.</summary>
    public TimeSpan BatchDelay { get; set; } = TimeSpan.Zero;

    /// <summary>How long to wait for the remote's hello before the connection fails.</summary>
    public TimeSpan HelloTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Pad onion circuit links (on by default).</summary>
    public bool OnCircuitLinks { get; set; } = true;

    /// <summary>Pad shadow-address connections (on by default).</summary>
    public bool OnShadowConnections { get; set; } = true;

    /// <summary>Pad other connections this node dials through the policy (off by default).</summary>
    public bool OnOtherConnections { get; set; }

    /// <summary>
    /// When the policy pads a dial and the remote does not run padding: true refuses the connection, false connects
    /// without padding (counted in <c>p2pstack_padding_fallbacks_total</c>).
    /// </summary>
    public bool Required { get; set; } = true;

    internal void Validate()
    {
        PaddingWire.ValidateSizes(CollectionsMarshalSpan());
        if (!(CoverRate > 0 && CoverRate <= 1000)) throw new ArgumentOutOfRangeException(nameof(CoverRate), CoverRate, "cover rate must be in (0, 1000] cells/s");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(CoverBudgetBytesPerSecond);
        if (CoverMaxLag < TimeSpan.Zero || CoverMaxLag > TimeSpan.FromSeconds(10))
            throw new ArgumentOutOfRangeException(nameof(CoverMaxLag), CoverMaxLag, "the cover lag bound must be in 0..10 s");
        if (MaxJitter < TimeSpan.Zero || BatchDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MaxJitter), "delays cannot be negative");
        if (HelloTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(HelloTimeout));
    }

    private ReadOnlySpan<int> CollectionsMarshalSpan() => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(CellSizes);
}
