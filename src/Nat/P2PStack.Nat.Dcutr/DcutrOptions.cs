namespace P2PStack.Nat.Dcutr;

public sealed class DcutrOptions
{
    /// <summary>Try to turn relayed connections into direct ones (and answer peers that try).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Hole punch rounds (CONNECT, SYNC, simultaneous dial) before giving up: the spec's 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Budget of one round's dials.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Budget of one message exchange on the DCUtR stream (a peer that stalls is dropped).</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Before a hole punch, a direct dial to the remote's public addresses, if it has any (the spec's
    /// unilateral upgrade), with this budget.</summary>
    public TimeSpan UnilateralDialTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the initiator waits for identify on the relayed connection (it tells the remote's addresses,
    /// for the unilateral dial) before going on without.</summary>
    public TimeSpan IdentifyWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the relayed connection stays open once a direct one exists, so that streams on it can finish.</summary>
    public TimeSpan RelayedCloseGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Hole punches running at once; more relayed connections stay relayed.</summary>
    public int MaxConcurrent { get; set; } = 8;

    /// <summary>Hole punch to private addresses too (tests on one machine; on the internet only public ones make sense).</summary>
    public bool AllowPrivateAddresses { get; set; }

    internal void Validate()
    {
        if (MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), "at least 1");
        if (MaxConcurrent < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrent), "at least 1");
        foreach (var (value, name) in new[] { (DialTimeout, nameof(DialTimeout)), (StreamTimeout, nameof(StreamTimeout)),
            (UnilateralDialTimeout, nameof(UnilateralDialTimeout)), (IdentifyWait, nameof(IdentifyWait)) })
        {
            if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, "must be positive");
        }
        if (RelayedCloseGrace < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RelayedCloseGrace), "must not be negative");
    }
}
