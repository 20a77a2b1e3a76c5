namespace P2PStack.Transports.Memory;

/// <summary>
/// Network conditions of in-memory connections (for simulations). A memory connection is a reliable, ordered byte
/// stream, like TCP, so conditions never corrupt, drop or reorder bytes: latency, jitter and a bandwidth limit
/// delay delivery; packet loss is modelled as TCP sees it, a retransmission delay that holds up everything behind
/// the lost segment; faults of whole connections are refused dials and resets.
/// </summary>
public sealed record MemoryLinkConditions
{
    /// <summary>No delay and no faults: bytes go straight from the writer's pipe to the reader.</summary>
    public static MemoryLinkConditions Perfect { get; } = new();

    /// <summary>One-way delay added to every flushed write.</summary>
    public TimeSpan Latency { get; init; }

    /// <summary>Extra one-way delay, uniform in [0, Jitter), drawn per flushed write (order is kept).</summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>Bytes per second one direction carries; 0 is unlimited. Writes queue behind each other.</summary>
    public long BandwidthBytesPerSecond { get; init; }

    /// <summary>Probability that a flushed write is "lost" once and retransmitted: it, and every write behind it,
    /// arrives <see cref="RetransmissionTimeout"/> later.</summary>
    public double LossRate { get; init; }

    /// <summary>Delay a lost write costs (a TCP retransmission timeout).</summary>
    public TimeSpan RetransmissionTimeout { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Probability that a dial is refused, as if the connection attempt was lost.</summary>
    public double DialFailureRate { get; init; }

    /// <summary>Probability that a connection is reset by the network at a uniformly random moment within
    /// <see cref="ResetWindow"/> after it opens.</summary>
    public double ResetRate { get; init; }

    /// <summary>Window in which the resets of <see cref="ResetRate"/> happen.</summary>
    public TimeSpan ResetWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>True when bytes need the delay line (anything but instant, unlimited delivery).</summary>
    internal bool DelaysDelivery => Latency > TimeSpan.Zero || Jitter > TimeSpan.Zero || BandwidthBytesPerSecond > 0 || LossRate > 0;

    internal void Validate()
    {
        if (Latency < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Latency), "must not be negative");
        if (Jitter < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Jitter), "must not be negative");
        if (BandwidthBytesPerSecond < 0) throw new ArgumentOutOfRangeException(nameof(BandwidthBytesPerSecond), "must not be negative");
        if (RetransmissionTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RetransmissionTimeout), "must not be negative");
        if (ResetWindow <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ResetWindow), "must be positive");
        CheckProbability(LossRate, nameof(LossRate));
        CheckProbability(DialFailureRate, nameof(DialFailureRate));
        CheckProbability(ResetRate, nameof(ResetRate));
    }

    private static void CheckProbability(double value, string name)
    {
        if (!(value >= 0 && value <= 1)) throw new ArgumentOutOfRangeException(name, "must be a probability in [0, 1]");
    }
}
